/**
 * `HandlerRun`: one running `Bus.handle` — the `HandlerSubscription` it returns.
 *
 * Per delivery: decode, wait for a slot (`KeyedExecutor`: concurrency bound, serial per key),
 * call the handler (through `hooks.aroundHandle` and the timeout), then settle from the outcome:
 * resolve → ack; failure with attempts left → nack with backoff delay; otherwise dead-letter,
 * then ack. Decode failures are dead-lettered at once. `stop()` drains: deliveries not started
 * yet stay unsettled and go back to the broker on unsubscribe (redelivered, no attempt counted),
 * running handlers are awaited up to the timeout, then their signals abort. Internal to core: the
 * public surface is `HandlerSubscription` in `bus-options.ts`.
 *
 * Hot-path rule: no event objects unless `events$` is observed, no timers unless `timeoutMs`,
 * no AbortController unless the handler reads `context.signal`, no promise reaction per
 * settlement when the transport settles synchronously.
 */
import type { Subscription } from 'rxjs'
import { asDecodeError, type CheckedHandleOptions, isPromiseLike } from './bus-checks.js'
import type { Codec, Handler, HandlerSubscription } from './bus-options.js'
import { type BusRuntime, withPayload } from './bus-runtime.js'
import { isSwitchyardError, TimeoutError, toError } from './errors.js'
import { Job, type Signals } from './handler-job.js'
import { KeyedExecutor } from './keyed-executor.js'
import type { Delivery, Message } from './message.js'
import { backoffDelay, shouldRetry } from './retry.js'

/** Wait before trying again when the dead-letter publish itself fails. */
const deadLetterRetryDelayMs = 1000
/** Most message ids whose first-failure time is remembered per handler (oldest forgotten first). */
const firstFailureLimit = 10_000
/** Default upper bound of `stop()`. */
const defaultStopTimeoutMs = 10_000

const noop = (): void => {}

const keyOf = (job: Job): string | undefined => job.delivery.message.key

export class HandlerRun<T> implements HandlerSubscription {
  readonly topic: string
  readonly group: string | undefined
  readonly ready: Promise<void>

  readonly #runtime: BusRuntime
  readonly #options: CheckedHandleOptions
  readonly #handler: Handler<T>
  readonly #codec: Codec<T>
  readonly #deadLetterTopic: string | undefined
  readonly #onEnd: (run: HandlerSubscription) => void
  readonly #executor: KeyedExecutor<Job>
  readonly #signals: Signals = { watched: new Set(), abortedBy: undefined }
  /** First failure time per message id, as seen by this process (bounded; oldest dropped first). */
  readonly #firstFailures = new Map<string, number>()
  #settling = 0
  /** The last settle promise seen fulfilled (see `#settle`). */
  #fulfilled: Promise<void> | undefined
  #stopping = false
  #ended = false
  #isReady = false
  #resolveReady: () => void = noop
  #rejectReady: (error: Error) => void = noop
  #idle: (() => void) | undefined
  #stopped: Promise<void> | undefined
  #subscription: Subscription | undefined

  constructor(
    runtime: BusRuntime,
    topic: string,
    options: CheckedHandleOptions,
    codec: Codec<T>,
    deadLetterTopic: string | undefined,
    handler: Handler<T>,
    onEnd: (run: HandlerSubscription) => void,
  ) {
    this.topic = topic
    this.group = options.subscribe.group
    this.#runtime = runtime
    this.#options = options
    this.#handler = handler
    this.#codec = codec
    this.#deadLetterTopic = deadLetterTopic
    this.#onEnd = onEnd
    this.#executor = new KeyedExecutor(options.concurrency, keyOf, this.#start)
    this.ready = new Promise<void>((resolve, reject) => {
      this.#resolveReady = resolve
      this.#rejectReady = reject
    })
    this.ready.catch(noop) // a failed subscription is reported by events; awaiting `ready` still rejects
    const userReady = options.subscribe.onReady
    const subscribeOptions = {
      ...options.subscribe,
      onReady: () => {
        this.#isReady = true
        this.#resolveReady()
        userReady?.()
      },
    }
    this.#subscription = runtime.transport.subscribe(topic, subscribeOptions).subscribe({
      next: (delivery) => this.#onDelivery(delivery),
      error: (error: unknown) => this.#onStreamEnd(toError(error)),
      complete: () => this.#onStreamEnd(runtime.closedError(`keep consuming ${topic}`)),
    })
    if (this.#ended) this.#subscription = undefined
  }

  /** True once the subscription has ended (stopped, or its stream failed). */
  get ended(): boolean {
    return this.#ended
  }

  stop(options: { readonly timeoutMs?: number } = {}): Promise<void> {
    this.#stopped ??= this.#drain(options.timeoutMs ?? defaultStopTimeoutMs)
    return this.#stopped
  }

  #onDelivery(delivery: Delivery): void {
    // While draining, leave new deliveries unsettled: they count against `inFlight` (so the broker
    // stops sending) and go back to the broker when we unsubscribe. Nacking them instead would have
    // the broker hand them straight back to this consumer, in a busy loop, until the drain ends.
    if (this.#stopping) return
    if (this.#runtime.observed) {
      this.#runtime.emit({ type: 'delivered', message: delivery.message, group: this.group })
    }
    this.#executor.push(new Job(delivery, this.#signals))
  }

  readonly #start = (job: Job): void => {
    if (this.#runtime.observed) job.started = performance.now()
    const raw = job.delivery.message
    let decoded: T | Promise<T>
    try {
      decoded = this.#codec.decode(raw.payload, raw)
    } catch (thrown) {
      this.#failed(job, asDecodeError(thrown, raw))
      return
    }
    if (isPromiseLike<T>(decoded)) {
      Promise.resolve(decoded).then(
        (value) => this.#invoke(job, value),
        (thrown: unknown) => this.#failed(job, asDecodeError(thrown, raw)),
      )
    } else {
      this.#invoke(job, decoded)
    }
  }

  #invoke(job: Job, value: T): void {
    const message = withPayload(job.delivery.message, value)
    job.message = message
    let result: unknown
    if (this.#options.timeoutMs !== undefined || this.#runtime.hooks.aroundHandle !== undefined) {
      result = this.#wrapped(job, message)
    } else {
      try {
        result = this.#handler(message, job)
      } catch (thrown) {
        this.#failed(job, toError(thrown))
        return
      }
    }
    if (isPromiseLike(result)) {
      result.then(
        () => this.#succeeded(job),
        (thrown: unknown) => this.#failed(job, toError(thrown)),
      )
    } else {
      this.#succeeded(job)
    }
  }

  /** The handler call through `aroundHandle` and the timeout. */
  #wrapped(job: Job, message: Message<T>): Promise<void> {
    const next = (): Promise<void> => this.#timed(job, message)
    const around = this.#runtime.hooks.aroundHandle
    if (around === undefined) return next()
    try {
      return Promise.resolve(around(message as Message<unknown>, next))
    } catch (thrown) {
      return Promise.reject(thrown)
    }
  }

  #timed(job: Job, message: Message<T>): Promise<void> {
    let result: unknown
    try {
      result = this.#handler(message, job)
    } catch (thrown) {
      return Promise.reject(thrown)
    }
    const timeoutMs = this.#options.timeoutMs
    if (timeoutMs === undefined) return Promise.resolve(result).then(noop)
    return new Promise<void>((resolve, reject) => {
      const timer = this.#runtime.scheduler.schedule(() => {
        const error = new TimeoutError(`The handler of topic ${JSON.stringify(this.topic)}`, timeoutMs, {
          context: { topic: this.topic, ...(this.group === undefined ? {} : { group: this.group }) },
        })
        job.abort(error)
        reject(error)
      }, timeoutMs)
      Promise.resolve(result).then(
        () => {
          timer.unsubscribe()
          resolve()
        },
        (thrown: unknown) => {
          timer.unsubscribe()
          reject(thrown)
        },
      )
    })
  }

  #succeeded(job: Job): void {
    const { message } = job.delivery
    if (this.#firstFailures.size > 0) this.#firstFailures.delete(message.id)
    if (this.#runtime.observed) {
      this.#runtime.emit({
        type: 'handled',
        message: job.message ?? message,
        group: this.group,
        durationMs: performance.now() - job.started,
      })
    }
    this.#settle(job.delivery, 'ack', 0)
    this.#finish(job)
  }

  #failed(job: Job, error: Error): void {
    const { delivery } = job
    const { message } = delivery
    const runtime = this.#runtime
    const attempt = message.attempt
    const firstFailureAt = this.#noteFailure(message.id)
    const decodeFailed = isSwitchyardError(error, 'DecodeError')
    let retry = !decodeFailed && shouldRetry(this.#options.retry, attempt, error)
    let delayMs = 0
    let reason = error
    if (retry) {
      try {
        delayMs = backoffDelay(this.#options.retry, attempt, error)
      } catch (thrown) {
        retry = false
        reason = toError(thrown)
      }
    }
    if (runtime.observed) {
      if (decodeFailed) runtime.emit({ type: 'decode-failed', message, error })
      runtime.emit({
        type: 'handler-failed',
        message: job.message ?? message,
        group: this.group,
        error,
        willRetry: retry,
        delayMs,
      })
    }
    if (retry) {
      this.#settle(delivery, 'nack', delayMs)
    } else {
      this.#firstFailures.delete(message.id)
      if (!this.#options.deadLetter) {
        this.#settle(delivery, 'ack', 0)
      } else {
        let topic: string | undefined
        try {
          topic = runtime.deadLetterTopicFor(message.topic, this.#deadLetterTopic)
        } catch (thrown) {
          if (runtime.observed) {
            runtime.emit({
              type: 'dead-letter-failed',
              message,
              group: this.group,
              deadLetterTopic: '',
              error: toError(thrown),
            })
          }
          this.#settle(delivery, 'nack', deadLetterRetryDelayMs)
        }
        if (topic !== undefined) {
          this.#track(
            runtime.deadLetter(
              delivery,
              this.group,
              topic,
              reason,
              attempt,
              firstFailureAt,
              deadLetterRetryDelayMs,
            ),
          )
        }
      }
    }
    this.#finish(job)
  }

  /** Records the first failure time of a message id (if new) and returns it. */
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

  #finish(job: Job): void {
    job.end()
    this.#executor.release(job)
    if (this.#idle !== undefined) this.#checkIdle()
  }

  /** Counts a dead-letter step (never rejects) so that `stop()` waits for it. */
  #track(settling: Promise<void>): void {
    this.#settling++
    settling.then(this.#settled)
  }

  /** Acks or nacks (requeue, optional delay), counted for `stop()`; a failure becomes a `settle-failed` event. */
  #settle(delivery: Delivery, operation: 'ack' | 'nack', delayMs: number): void {
    this.#settling++
    let settled: Promise<void>
    try {
      settled =
        operation === 'ack' ? delivery.ack() : delivery.nack(delayMs > 0 ? { delayMs } : { requeue: true })
    } catch (thrown) {
      settled = Promise.reject(thrown)
    }
    // A transport that settles synchronously may hand back one shared, already fulfilled promise
    // (the memory transport does). Promises never change state, so once that one is seen to
    // fulfil, the settlement is complete now: count it without a promise reaction per message.
    if (settled === this.#fulfilled) {
      this.#settled()
      return
    }
    settled.then(
      () => {
        if (settled instanceof Promise) this.#fulfilled = settled
        this.#settled()
      },
      (thrown: unknown) => {
        this.#settled()
        if (this.#runtime.observed) {
          const error = toError(thrown)
          this.#runtime.emit({
            type: 'settle-failed',
            message: delivery.message,
            group: this.group,
            operation,
            error,
          })
        }
      },
    )
  }

  readonly #settled = (): void => {
    this.#settling--
    if (this.#idle !== undefined) this.#checkIdle()
  }

  #checkIdle(): void {
    if (this.#executor.running === 0 && this.#settling === 0) this.#idle?.()
  }

  #onStreamEnd(error: Error): void {
    if (this.#ended) return
    this.#ended = true
    this.#subscription = undefined
    if (!this.#isReady) this.#rejectReady(error)
    if (!this.#stopping) {
      if (this.#runtime.observed) {
        this.#runtime.emit({ type: 'subscription-failed', topic: this.topic, group: this.group, error })
      }
      // The transport took back every unsettled delivery: nothing queued here can be settled.
      this.#executor.takePending()
      this.#stopped ??= Promise.resolve()
      this.#onEnd(this)
    }
  }

  async #drain(timeoutMs: number): Promise<void> {
    this.#stopping = true
    // Not started yet: left unsettled, given back to the broker by the unsubscribe below.
    this.#executor.takePending()
    if (this.#executor.running > 0 || this.#settling > 0) {
      await new Promise<void>((resolve) => {
        const timer = this.#runtime.scheduler.schedule(() => {
          const error = new TimeoutError('Stopping the handler', timeoutMs, {
            context: { topic: this.topic },
          })
          this.#signals.abortedBy = error
          for (const job of this.#signals.watched) job.abort(error)
          this.#signals.watched.clear()
          resolve()
        }, timeoutMs)
        this.#idle = () => {
          timer.unsubscribe()
          resolve()
        }
      })
      this.#idle = undefined
    }
    this.#ended = true
    this.#subscription?.unsubscribe()
    this.#subscription = undefined
    if (!this.#isReady) this.#rejectReady(this.#runtime.closedError(`wait for ${this.topic} to be ready`))
    this.#onEnd(this)
  }
}
