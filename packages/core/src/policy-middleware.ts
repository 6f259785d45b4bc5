/**
 * The Bus's own policies as middleware steps: dead-letter routing, retry, decode, timeout, and
 * the handler call at the centre. `handle`'s options (`retry`, `deadLetter`, `deadLetterTopic`,
 * `codec`, `timeoutMs`) choose and configure these steps; `buildChain` puts them in the
 * documented order below the user's middleware.
 *
 * Internal to core. Every step keeps a synchronous path synchronous (no promise, no timer and no
 * event object unless needed), so a synchronous handler runs the whole chain without allocating
 * more than its decoded message.
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
/** Most message ids whose first-failure time is remembered per handler (oldest forgotten first). */
const firstFailureLimit = 10_000

const acked = Outcome.ack()
const toAck = (): HandlerOutcome => acked

/** The handler call: resolve (or return) → `ack`; throw or reject → the error goes up to retry. */
export function handlerStep<T>(handler: Handler<T>): NextHandler {
  return (ctx) => {
    const job = ctx as Job
    const result = handler(job.message as Message<T>, job)
    return isPromiseLike(result) ? Promise.resolve(result).then(toAck) : acked
  }
}

/** Emits `decode-failed` and returns the codec's error as a `DecodeError`. */
export function decodeFailure(runtime: BusRuntime, raw: Message<Uint8Array>, thrown: unknown): DecodeError {
  const error = asDecodeError(thrown, raw)
  if (runtime.observed) runtime.emit({ type: 'decode-failed', message: raw, error })
  return error
}

/**
 * Decodes `raw` with `codec`: the value, a promise of it, or throws `DecodeError` (after emitting
 * `decode-failed`). Shared by the handle chain and `consume`.
 */
export function decodePayload<T>(
  runtime: BusRuntime,
  codec: Codec<T>,
  raw: Message<Uint8Array>,
): T | Promise<T> {
  let decoded: T | Promise<T>
  try {
    decoded = codec.decode(raw.payload, raw)
  } catch (thrown) {
    throw decodeFailure(runtime, raw, thrown)
  }
  if (!isPromiseLike<T>(decoded)) return decoded
  return Promise.resolve(decoded).then(undefined, (thrown: unknown) => {
    throw decodeFailure(runtime, raw, thrown)
  })
}

/** Decode: sets `ctx.message` to the decoded view, then calls `next`; a bad payload throws `DecodeError` (never retried). */
export function decodeStep<T>(runtime: BusRuntime, codec: Codec<T>): Middleware {
  return (next) => (ctx) => {
    const job = ctx as Job
    const raw = job.delivery.message
    const decoded = decodePayload(runtime, codec, raw)
    if (isPromiseLike<T>(decoded)) {
      return decoded.then((value) => {
        job.message = withPayload(raw, value)
        return next(job)
      })
    }
    job.message = withPayload(raw, decoded)
    return next(job)
  }
}

/** Timeout: fails the attempt with `TimeoutError` after `timeoutMs` on the Bus scheduler and aborts `ctx.signal`. */
export function timeoutStep(runtime: BusRuntime, timeoutMs: number): Middleware {
  return (next) => (ctx) => {
    const job = ctx as Job
    let result: HandlerOutcome | Promise<HandlerOutcome>
    try {
      result = next(job)
    } catch (thrown) {
      return Promise.reject(thrown)
    }
    return new Promise<HandlerOutcome>((resolve, reject) => {
      const timer = runtime.scheduler.schedule(() => {
        const error = new TimeoutError(`The handler of topic ${JSON.stringify(job.topic)}`, timeoutMs, {
          context: { topic: job.topic, ...(job.group === undefined ? {} : { group: job.group }) },
        })
        job.abort(error)
        reject(error)
      }, timeoutMs)
      Promise.resolve(result).then(
        (outcome) => {
          timer.unsubscribe()
          resolve(outcome)
        },
        (thrown: unknown) => {
          timer.unsubscribe()
          reject(thrown)
        },
      )
    })
  }
}

/**
 * Retry: an error from the inner steps becomes `retry` (with the policy's backoff) while
 * attempts are left and the error is retryable, else `dead-letter` with the error as reason.
 * Emits `handler-failed`. Remembers each failing message id's first failure time.
 */
export function retryStep(runtime: BusRuntime, policy: NormalisedRetry): Middleware {
  const firstFailures = new Map<string, number>()
  const noteFailure = (id: string): number => {
    const known = firstFailures.get(id)
    if (known !== undefined) return known
    const now = runtime.scheduler.now()
    if (firstFailures.size >= firstFailureLimit) {
      const oldest = firstFailures.keys().next()
      if (!oldest.done) firstFailures.delete(oldest.value)
    }
    firstFailures.set(id, now)
    return now
  }
  const failed = (job: Job, error: Error): HandlerOutcome => {
    const message = job.delivery.message
    job.firstFailureAt = noteFailure(message.id)
    let retry = shouldRetry(policy, message.attempt, error)
    let delayMs = 0
    let reason = error
    if (retry) {
      try {
        delayMs = backoffDelay(policy, message.attempt, error)
      } catch (thrown) {
        retry = false
        reason = toError(thrown)
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
    firstFailures.delete(message.id)
    return Outcome.deadLetter(reason)
  }
  return (next) => (ctx) => {
    const job = ctx as Job
    let result: HandlerOutcome | Promise<HandlerOutcome>
    try {
      result = next(job)
    } catch (thrown) {
      return failed(job, toError(thrown))
    }
    if (isPromiseLike(result)) {
      return result.then(
        (outcome) => {
          if (firstFailures.size > 0) firstFailures.delete(job.delivery.message.id)
          return outcome
        },
        (thrown: unknown) => failed(job, toError(thrown)),
      )
    }
    if (firstFailures.size > 0) firstFailures.delete(job.delivery.message.id)
    return result
  }
}

/**
 * Dead-letter routing: gives a `dead-letter` outcome its topic (the handle's `deadLetterTopic`, else
 * the Bus rule, else `<topic>.dlq`), or turns it into `drop` when `deadLetter: false`. A topic
 * rule that yields an invalid name becomes `retry` after 1 s with a `dead-letter-failed` event.
 * (The publish itself happens when the Bus settles the outcome.)
 */
export function deadLetterStep(
  runtime: BusRuntime,
  enabled: boolean,
  explicitTopic: string | undefined,
): Middleware {
  const route = (job: HandleContext, outcome: HandlerOutcome): HandlerOutcome => {
    if (outcome.kind !== 'dead-letter' || outcome.topic !== undefined) return outcome
    if (!enabled) return Outcome.drop(outcome.reason)
    try {
      return Outcome.deadLetter(outcome.reason, runtime.deadLetterTopicFor(job.raw.topic, explicitTopic))
    } catch (thrown) {
      const error = toError(thrown)
      if (runtime.observed) {
        runtime.emit({
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
  return (next) => (ctx) => {
    const result = next(ctx)
    if (isPromiseLike(result)) return result.then((outcome) => route(ctx, outcome))
    return route(ctx, result)
  }
}

/**
 * The full chain of one `handle`, outermost first: Bus middleware, handle middleware,
 * dead-letter, retry, decode, timeout (only with `timeoutMs`), handler.
 */
export function buildChain<T>(
  runtime: BusRuntime,
  options: CheckedHandleOptions,
  codec: Codec<T>,
  deadLetterTopic: string | undefined,
  handlerMiddleware: readonly Middleware[],
  handler: Handler<T>,
): NextHandler {
  const steps: Middleware[] = [
    ...runtime.middleware,
    ...handlerMiddleware,
    deadLetterStep(runtime, options.deadLetter, deadLetterTopic),
    retryStep(runtime, options.retry),
    decodeStep(runtime, codec),
  ]
  if (options.timeoutMs !== undefined) steps.push(timeoutStep(runtime, options.timeoutMs))
  return compose(steps, handlerStep(handler))
}
