/**
 * The Bus's own policies as the innermost steps of a `handle` chain: dead-letter routing, retry,
 * decode, timeout, and the handler call at the centre (`PolicySteps`). `handle`'s options
 * (`retry`, `deadLetter`, `deadLetterTopic`, `codec`, `timeoutMs`) configure these steps;
 * `buildChain` puts the user's middleware outside them. `decodePayload` is shared with `consume`.
 *
 * Internal to core. A synchronous path stays synchronous (no promise, no timer and no event
 * object unless needed), so a synchronous handler runs the steps allocating only its decoded
 * message.
 */
import { asDecodeError, type CheckedHandleOptions, isPromiseLike } from './bus-checks.js'
import type { Codec, Handler } from './bus-options.js'
import { type BusRuntime, withPayload } from './bus-runtime.js'
import { type DecodeError, TimeoutError, toError } from './errors.js'
import type { Job } from './handler-job.js'
import type { Message } from './message.js'
import {
  compose,
  type HandleContext,
  type HandlerOutcome,
  type Middleware,
  type NextHandler,
  Outcome,
} from './middleware.js'
import { backoffDelay, type NormalisedRetry, shouldRetry } from './retry.js'

/** Wait before trying again when the dead-letter topic cannot be resolved or published to. */
export const deadLetterRetryDelayMs = 1000
const acked = Outcome.ack()

/** Emits `decode-failed` and returns the codec's error as a `DecodeError`. */
export function decodeFailure(runtime: BusRuntime, raw: Message<Uint8Array>, thrown: unknown): DecodeError {
  const error = asDecodeError(thrown, raw)
  if (runtime.reports) runtime.emit({ type: 'decode-failed', message: raw, error })
  return error
}

/**
 * Decodes `raw` with `codec`: the value, or a promise of it, or throws `DecodeError` (after
 * emitting `decode-failed`). Shared by the handle steps and `consume`. A promise it returns may
 * reject with anything the codec rejected with: callers pass that through {@link decodeFailure}
 * (the caller checks for a promise anyway, so this saves a second check per message).
 */
export function decodePayload<T>(
  runtime: BusRuntime,
  codec: Codec<T>,
  raw: Message<Uint8Array>,
): T | PromiseLike<T> {
  try {
    return codec.decode(raw.payload, raw)
  } catch (thrown) {
    throw decodeFailure(runtime, raw, thrown)
  }
}

/** Most message ids whose first-failure time is remembered per handler (oldest forgotten first). */
const firstFailureLimit = 10_000

/**
 * The Bus's own steps of one `handle`, in their documented order (outermost first):
 *
 * 1. **dead-letter** — gives a `dead-letter` outcome its topic (the handle's `deadLetterTopic`,
 *    else the Bus rule, else `<topic>.dlq`), or makes it `drop` with `deadLetter: false`. A topic
 *    rule that yields an invalid name becomes `retry` after 1 s with a `dead-letter-failed` event.
 *    (The publish happens when the Bus settles the outcome.)
 * 2. **retry** — an error from the steps inside becomes `retry` with the policy's backoff while
 *    attempts are left and the error is retryable (never a `DecodeError`), else `dead-letter` with
 *    the error as reason; emits `handler-failed`; remembers the first failure time per message id.
 * 3. **decode** — sets `ctx.message` to the decoded view; a bad payload throws `DecodeError`
 *    (with a `decode-failed` event), which retry turns into `dead-letter` at once.
 * 4. **timeout** — with `timeoutMs` only: fails the attempt with `TimeoutError` on the Bus
 *    scheduler and aborts `ctx.signal`.
 * 5. **handler** — resolve (or return) → `ack`; throw or reject → the error goes to retry.
 *
 * Nothing can sit between these steps (user middleware is outside all of them), so they run as
 * one function: a synchronous handler allocates no promise, and an asynchronous one costs one
 * promise reaction here instead of one per step.
 */
export class PolicySteps<T> {
  readonly #runtime: BusRuntime
  readonly #codec: Codec<T>
  readonly #handler: Handler<T>
  readonly #policy: NormalisedRetry
  readonly #timeoutMs: number | undefined
  readonly #deadLetter: boolean
  readonly #deadLetterTopic: string | undefined
  readonly #firstFailures = new Map<string, number>()

  constructor(
    runtime: BusRuntime,
    options: CheckedHandleOptions,
    codec: Codec<T>,
    deadLetterTopic: string | undefined,
    handler: Handler<T>,
  ) {
    this.#runtime = runtime
    this.#codec = codec
    this.#handler = handler
    this.#policy = options.retry
    this.#timeoutMs = options.timeoutMs
    this.#deadLetter = options.deadLetter
    this.#deadLetterTopic = deadLetterTopic
  }

  /** Runs the steps for one delivery (the innermost `NextHandler` of the chain). */
  readonly run = (ctx: HandleContext): HandlerOutcome | Promise<HandlerOutcome> => {
    const job = ctx as Job
    const raw = job.delivery.message
    let decoded: T | PromiseLike<T>
    try {
      decoded = decodePayload(this.#runtime, this.#codec, raw)
    } catch (thrown) {
      return this.#failed(job, thrown)
    }
    if (isPromiseLike<T>(decoded)) {
      return Promise.resolve(decoded).then(
        (value) => {
          job.message = withPayload(raw, value)
          return this.#call(job)
        },
        (thrown: unknown) => this.#failed(job, decodeFailure(this.#runtime, raw, thrown)),
      )
    }
    job.message = withPayload(raw, decoded)
    return this.#call(job)
  }

  /**
   * The same as `run`, for a chain without user middleware: returns the outcome when the steps
   * finish synchronously; otherwise returns `undefined` and hands the outcome to `then` later.
   * Saves the promise (and its reaction) that `run` would build around an asynchronous handler.
   */
  start(job: Job, then: (job: Job, outcome: HandlerOutcome) => void): HandlerOutcome | undefined {
    const raw = job.delivery.message
    let decoded: T | PromiseLike<T>
    try {
      decoded = decodePayload(this.#runtime, this.#codec, raw)
    } catch (thrown) {
      return this.#failed(job, thrown)
    }
    if (isPromiseLike<T>(decoded)) {
      decoded.then(
        (value) => {
          job.message = withPayload(raw, value)
          const outcome = this.#call(job, then)
          if (outcome !== undefined) then(job, outcome)
        },
        (thrown: unknown) => then(job, this.#failed(job, decodeFailure(this.#runtime, raw, thrown))),
      )
      return undefined
    }
    job.message = withPayload(raw, decoded)
    return this.#call(job, then)
  }

  #call(job: Job): HandlerOutcome | Promise<HandlerOutcome>
  #call(job: Job, then: (job: Job, outcome: HandlerOutcome) => void): HandlerOutcome | undefined
  #call(
    job: Job,
    then?: (job: Job, outcome: HandlerOutcome) => void,
  ): HandlerOutcome | Promise<HandlerOutcome> | undefined {
    let result: unknown
    try {
      result =
        this.#timeoutMs === undefined
          ? this.#handler(job.message as Message<T>, job)
          : this.#timed(job, this.#timeoutMs)
    } catch (thrown) {
      return this.#failed(job, thrown)
    }
    if (!isPromiseLike(result)) return this.#succeeded(job)
    if (then === undefined) {
      return Promise.resolve(result).then(
        () => this.#succeeded(job),
        (thrown: unknown) => this.#failed(job, thrown),
      )
    }
    result.then(
      () => then(job, this.#succeeded(job)),
      (thrown: unknown) => then(job, this.#failed(job, thrown)),
    )
    return undefined
  }

  #timed(job: Job, timeoutMs: number): Promise<unknown> {
    const result = this.#handler(job.message as Message<T>, job)
    return new Promise<unknown>((resolve, reject) => {
      const timer = this.#runtime.scheduler.schedule(() => {
        const error = new TimeoutError(`The handler of topic ${JSON.stringify(job.topic)}`, timeoutMs, {
          context: { topic: job.topic, ...(job.group === undefined ? {} : { group: job.group }) },
        })
        job.abort(error)
        reject(error)
      }, timeoutMs)
      Promise.resolve(result).then(
        (value) => {
          timer.unsubscribe()
          resolve(value)
        },
        (thrown: unknown) => {
          timer.unsubscribe()
          reject(thrown)
        },
      )
    })
  }

  #succeeded(job: Job): HandlerOutcome {
    if (this.#firstFailures.size > 0) this.#firstFailures.delete(job.delivery.message.id)
    return acked
  }

  /** Retry, then dead-letter routing, for a failed attempt. */
  #failed(job: Job, thrown: unknown): HandlerOutcome {
    const error = toError(thrown)
    const runtime = this.#runtime
    const message = job.delivery.message
    job.firstFailureAt = this.#noteFailure(message.id)
    let retry: boolean
    let delayMs = 0
    let reason = error
    try {
      retry = shouldRetry(this.#policy, message.attempt, error)
    } catch (retryableError) {
      // A throwing `retry.retryable` must not lose the message: dead-letter it with that error.
      retry = false
      reason = toError(retryableError)
    }
    if (retry) {
      try {
        delayMs = backoffDelay(this.#policy, message.attempt, error)
      } catch (backoffError) {
        retry = false
        reason = toError(backoffError)
      }
    }
    if (runtime.observed) {
      runtime.emit({
        type: 'handler-failed',
        message: job.message ?? message,
        group: job.group,
        error,
        willRetry: retry,
        delayMs,
      })
    }
    if (retry) return Outcome.retry(delayMs, error)
    this.#firstFailures.delete(message.id)
    return this.#route(job, reason)
  }

  #route(job: Job, reason: Error): HandlerOutcome {
    if (!this.#deadLetter) return Outcome.drop(reason)
    try {
      return Outcome.deadLetter(
        reason,
        this.#runtime.deadLetterTopicFor(job.raw.topic, this.#deadLetterTopic),
      )
    } catch (thrown) {
      const error = toError(thrown)
      if (this.#runtime.reports) {
        this.#runtime.emit({
          type: 'dead-letter-failed',
          message: job.raw,
          group: job.group,
          deadLetterTopic: '',
          error,
        })
      }
      return Outcome.retry(deadLetterRetryDelayMs, error)
    }
  }

  #noteFailure(id: string): number {
    const known = this.#firstFailures.get(id)
    if (known !== undefined) return known
    const now = this.#runtime.scheduler.now()
    if (this.#firstFailures.size >= firstFailureLimit) {
      const oldest = this.#firstFailures.keys().next()
      if (!oldest.done) this.#firstFailures.delete(oldest.value)
    }
    this.#firstFailures.set(id, now)
    return now
  }
}

/** The chain of one `handle`: its entry point, and the Bus's steps when no user middleware wraps them. */
export interface HandleChain {
  readonly run: NextHandler
  readonly direct: PolicySteps<unknown> | undefined
}

/**
 * The full chain of one `handle`, outermost first: `BusOptions.middleware`,
 * `HandleOptions.middleware`, then the Bus's steps ({@link PolicySteps}).
 */
export function buildChain<T>(
  runtime: BusRuntime,
  options: CheckedHandleOptions,
  codec: Codec<T>,
  deadLetterTopic: string | undefined,
  handlerMiddleware: readonly Middleware[],
  handler: Handler<T>,
): HandleChain {
  const steps = new PolicySteps(runtime, options, codec, deadLetterTopic, handler)
  const middleware = [...runtime.middleware, ...handlerMiddleware]
  return {
    run: compose(middleware, steps.run),
    direct: middleware.length === 0 ? (steps as unknown as PolicySteps<unknown>) : undefined,
  }
}
