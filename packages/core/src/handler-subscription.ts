/**
 * `HandlerRun`: one running `Bus.handle` — the `HandlerSubscription` it returns.
 *
 * Per delivery: wait for a slot (`KeyedExecutor`: concurrency bound, serial per key), run the
 * middleware chain (`policy-middleware.ts`: user middleware, dead-letter, retry, decode,
 * timeout, handler), then settle from its `HandlerOutcome`: ack, nack with delay, drop, or
 * dead-letter then ack. Handlers that go asynchronous are watched for `stuckAfterMs`.
 * `stop()` drains: deliveries not started yet stay unsettled and go back to the broker on
 * unsubscribe (redelivered, no attempt counted), running handlers are awaited up to the timeout
 * (or the stop signal), then their signals abort. Internal to core: the public surface is
 * `HandlerSubscription` in `bus-options.ts`.
 *
 * Hot-path rule: no event objects unless `events$` is observed, no timers unless `timeoutMs`
 * (stuck detection keeps at most one timer per handler, armed only while a handler is
 * asynchronous), no AbortController unless someone reads `signal`, no promise reaction per
 * settlement when the transport settles synchronously.
 */
import { asyncScheduler, type Subscription } from 'rxjs'
import { type CheckedHandleOptions, isPromiseLike } from './bus-checks.js'
import type { HandlerSubscription, StopOptions } from './bus-options.js'
import { type BusRuntime, startSettle } from './bus-runtime.js'
import { CancelledError, TimeoutError, toError } from './errors.js'
import { Job, type JobScope } from './handler-job.js'
import { KeyedExecutor } from './keyed-executor.js'
import type { Delivery } from './message.js'
import { type HandlerOutcome, type NextHandler, Outcome } from './middleware.js'
import { deadLetterRetryDelayMs, type HandleChain, type PolicySteps } from './policy-middleware.js'
import type { SupervisedChild } from './supervisor.js'

/** Default upper bound of `stop()`. */
const defaultStopTimeoutMs = 10_000

const noop = (): void => {}

const keyOf = (job: Job): string | undefined => job.delivery.message.key

export class HandlerRun implements HandlerSubscription, SupervisedChild {
  readonly topic: string
  readonly group: string | undefined
  readonly ready: Promise<void>

  readonly #runtime: BusRuntime
  readonly #chain: NextHandler
  readonly #direct: PolicySteps<unknown> | undefined
  readonly #onEnd: (run: HandlerSubscription) => void
  readonly #executor: KeyedExecutor<Job>
  readonly #scope: JobScope
  /**
   * Jobs that went asynchronous and are not yet reported stuck, in start order: an intrusive
   * list through `Job.prevWatched`/`nextWatched` (a Set would hash every job object).
   */
  #oldestWatched: Job | undefined
  #newestWatched: Job | undefined
  #stuckTimer: Subscription | undefined
  /** `stuckAfterMs`, or 0 when `timeoutMs` ends every attempt sooner (nothing can be stuck). */
  readonly #stuckAfterMs: number
  /** Scheduler time at start; watched jobs store their start relative to it (see `Job.since`). */
  readonly #clockBase: number
  /** Real-time scheduler: the sweep's tick interval (`stuckAfterMs / 8`); 0: exact stamps. */
  readonly #granularity: number
  /** The last sweep tick (or first watch) time, relative to `#clockBase`. */
  #tick = 0
  #settling = 0
  /** The last settle promise seen fulfilled (see `#settle`). */
  #fulfilled: Promise<void> | undefined
  /** The latest settle promise not yet seen complete, and the deliveries sharing it. */
  #last:
    | { readonly promise: Promise<void>; readonly operation: 'ack' | 'nack'; readonly deliveries: Delivery[] }
    | undefined
  #stopping = false
  #ended = false
  #isReady = false
  #resolveReady: () => void = noop
  #rejectReady: (error: Error) => void = noop
  #idle: (() => void) | undefined
  #stopped: Promise<void> | undefined
  #subscription: Subscription | undefined
  readonly #subscribeOptions: CheckedHandleOptions['subscribe']
  /** Counts streams subscribed and given up; a stream's events count only while it is current. */
  #generation = 0
  #restartTimer: Subscription | undefined
  /** The stream failed for good (not restarted, not a stop). */
  #failed = false
  /** Restarts by the supervisor so far. */
  restarts = 0

  constructor(
    runtime: BusRuntime,
    topic: string,
    options: CheckedHandleOptions,
    chain: HandleChain,
    onEnd: (run: HandlerSubscription) => void,
  ) {
    this.topic = topic
    this.group = options.subscribe.group
    this.#runtime = runtime
    this.#chain = chain.run
    this.#direct = chain.direct
    const { stuckAfterMs } = runtime
    this.#clockBase = runtime.scheduler.now()
    this.#stuckAfterMs =
      options.timeoutMs !== undefined && options.timeoutMs <= stuckAfterMs ? 0 : stuckAfterMs
    this.#granularity =
      runtime.scheduler === asyncScheduler && this.#stuckAfterMs > 0
        ? Math.max(1, Math.floor(this.#stuckAfterMs / 8))
        : 0
    this.#onEnd = onEnd
    this.#scope = { topic, group: this.group, watched: new Set(), abortedBy: undefined }
    this.#executor = new KeyedExecutor(options.concurrency, keyOf, this.#start)
    this.ready = new Promise<void>((resolve, reject) => {
      this.#resolveReady = resolve
      this.#rejectReady = reject
    })
    this.ready.catch(noop) // a failed subscription is reported by events; awaiting `ready` still rejects
    this.#subscribeOptions = options.subscribe
    runtime.supervisor?.add(this)
    this.#subscribe()
  }

  /**
   * Subscribes to the transport (again, after a restart). Events of an older stream are ignored:
   * `#generation` moves on whenever a stream is given up.
   */
  #subscribe(): void {
    const generation = ++this.#generation
    const runtime = this.#runtime
    const userReady = this.#subscribeOptions.onReady
    const restart = this.restarts
    const subscribeOptions = {
      ...this.#subscribeOptions,
      onReady: () => {
        if (generation !== this.#generation) return
        this.#isReady = true
        this.#resolveReady()
        if (restart > 0 && runtime.reports) {
          runtime.emit({ type: 'subscription-restarted', topic: this.topic, group: this.group, restart })
        }
        userReady?.()
      },
    }
    const subscription = runtime.transport.subscribe(this.topic, subscribeOptions).subscribe({
      next: (delivery) => {
        if (generation === this.#generation) this.#onDelivery(delivery)
      },
      error: (error: unknown) => {
        if (generation === this.#generation) this.#onStreamEnd(toError(error))
      },
      complete: () => {
        if (generation === this.#generation)
          this.#onStreamEnd(runtime.closedError(`keep consuming ${this.topic}`))
      },
    })
    if (generation === this.#generation && !this.#ended) this.#subscription = subscription
  }

  /** For the supervisor: `running`, `restarting`, `failed` or `stopped`. */
  get state(): 'running' | 'restarting' | 'failed' | 'stopped' {
    if (this.#failed) return 'failed'
    if (this.#stopping || this.#ended) return 'stopped'
    return this.#restartTimer === undefined ? 'running' : 'restarting'
  }

  /**
   * For the supervisor: gives up the current stream (its unsettled deliveries go back to the
   * broker; handlers still running settle into nothing, so their messages come again) and
   * subscribes anew after `delayMs` on the Bus scheduler.
   */
  restartAfter(delayMs: number, error: Error): void {
    if (this.#stopping || this.#ended) return
    this.#generation++
    const old = this.#subscription
    this.#subscription = undefined
    old?.unsubscribe()
    this.#executor.takePending()
    const runtime = this.#runtime
    if (runtime.reports) {
      runtime.emit({
        type: 'subscription-restarting',
        topic: this.topic,
        group: this.group,
        error,
        restart: this.restarts,
        delayMs,
      })
    }
    this.#restartTimer?.unsubscribe()
    this.#restartTimer = runtime.scheduler.schedule(() => {
      this.#restartTimer = undefined
      if (!this.#stopping && !this.#ended) this.#subscribe()
    }, delayMs)
  }

  /** True once the subscription has ended (stopped, or its stream failed). */
  get ended(): boolean {
    return this.#ended
  }

  stop(options: StopOptions = {}): Promise<void> {
    this.#stopped ??= this.#drain(options.timeoutMs ?? defaultStopTimeoutMs, options.signal)
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
    this.#executor.push(new Job(delivery, this.#scope))
  }

  readonly #start = (job: Job): void => {
    if (this.#runtime.observed) job.started = performance.now()
    const direct = this.#direct
    if (direct !== undefined) {
      let outcome: HandlerOutcome | undefined
      try {
        outcome = direct.start(job, this.#doneLater)
      } catch (thrown) {
        this.#escaped(job, thrown)
        return
      }
      if (outcome === undefined) this.#watch(job)
      else this.#done(job, outcome)
      return
    }
    let result: HandlerOutcome | Promise<HandlerOutcome>
    try {
      result = this.#chain(job)
    } catch (thrown) {
      this.#escaped(job, thrown)
      return
    }
    if (isPromiseLike(result)) {
      this.#watch(job)
      result.then(
        (outcome) => this.#done(job, outcome),
        (thrown: unknown) => this.#escaped(job, thrown),
      )
    } else {
      this.#done(job, result)
    }
  }

  readonly #doneLater = (job: Job, outcome: HandlerOutcome): void => this.#done(job, outcome)

  /** An error that no step turned into an outcome (a throwing user middleware): retried after 1 s. */
  #escaped(job: Job, thrown: unknown): void {
    const error = toError(thrown)
    if (this.#runtime.observed) {
      this.#runtime.emit({
        type: 'handler-failed',
        message: job.message ?? job.delivery.message,
        group: this.group,
        error,
        willRetry: true,
        delayMs: deadLetterRetryDelayMs,
      })
    }
    this.#done(job, Outcome.retry(deadLetterRetryDelayMs, error))
  }

  #done(job: Job, outcome: HandlerOutcome): void {
    if (job.since >= 0) this.#unwatch(job)
    const { delivery } = job
    switch (outcome?.kind) {
      case 'ack':
        if (this.#runtime.observed) {
          this.#runtime.emit({
            type: 'handled',
            message: job.message ?? delivery.message,
            group: this.group,
            durationMs: performance.now() - job.started,
          })
        }
        this.#settle(delivery, 'ack', 0)
        break
      case 'retry':
        this.#settle(delivery, 'nack', outcome.delayMs)
        break
      case 'drop':
      case 'dead-letter':
        this.#track(this.#runtime.settleOutcome(delivery, this.group, outcome, job.firstFailureAt))
        break
      default:
        this.#escaped(job, new TypeError(`a middleware returned ${String(outcome)}, not a HandlerOutcome`))
        return
    }
    this.#finish(job)
  }

  /**
   * Starts watching an asynchronous job for `stuckAfterMs`; one timer per handler at most.
   *
   * On the real-time scheduler a job is stamped with the last tick of the sweep timer (which
   * ticks every `stuckAfterMs / 8` while jobs are watched) instead of a clock read per call, which
   * is measurable at millions of calls per second; on any other scheduler (a test's virtual time)
   * it is stamped exactly.
   */
  #watch(job: Job): void {
    const after = this.#stuckAfterMs
    if (after <= 0) return
    if (this.#granularity > 0) {
      if (this.#stuckTimer === undefined) {
        this.#tick = this.#runtime.scheduler.now() - this.#clockBase
        this.#stuckTimer = this.#runtime.scheduler.schedule(this.#sweep, this.#granularity)
      }
      job.since = this.#tick
    } else {
      job.since = this.#runtime.scheduler.now() - this.#clockBase
      this.#stuckTimer ??= this.#runtime.scheduler.schedule(this.#sweep, after)
    }
    const newest = this.#newestWatched
    job.prevWatched = newest
    if (newest === undefined) this.#oldestWatched = job
    else newest.nextWatched = job
    this.#newestWatched = job
  }

  #unwatch(job: Job): void {
    const { prevWatched: prev, nextWatched: next } = job
    if (prev === undefined) this.#oldestWatched = next
    else prev.nextWatched = next
    if (next === undefined) this.#newestWatched = prev
    else next.prevWatched = prev
    job.prevWatched = undefined
    job.nextWatched = undefined
    job.since = -1
  }

  /** Reports jobs running for `stuckAfterMs` or longer (once each), then re-arms while any is watched. */
  readonly #sweep = (): void => {
    this.#stuckTimer = undefined
    const { scheduler } = this.#runtime
    const now = scheduler.now() - this.#clockBase
    // A tick stamp is up to one granularity before the real start: wait that much more, so that
    // nothing is reported early, and report the elapsed time it is sure of.
    const slack = this.#granularity
    const threshold = this.#stuckAfterMs + slack
    let nextDue: number | undefined
    let job = this.#oldestWatched
    while (job !== undefined) {
      const stamped = now - job.since
      if (stamped < threshold) {
        nextDue = threshold - stamped
        break
      }
      const next = job.nextWatched
      this.#unwatch(job)
      if (this.#runtime.reports) {
        this.#runtime.emit({
          type: 'handler-stuck',
          message: job.message ?? job.delivery.message,
          group: this.group,
          elapsedMs: stamped - slack,
        })
      }
      job = next
    }
    if (nextDue === undefined || this.#ended) return
    if (slack > 0) {
      this.#tick = now
      this.#stuckTimer = scheduler.schedule(this.#sweep, slack)
    } else {
      this.#stuckTimer = scheduler.schedule(this.#sweep, nextDue)
    }
  }

  #finish(job: Job): void {
    job.end()
    this.#executor.release(job)
    if (this.#idle !== undefined) this.#checkIdle()
  }

  /** Counts a settle step (never rejects) so that `stop()` waits for it. */
  #track(settling: Promise<void>): void {
    this.#settling++
    settling.then(this.#settled)
  }

  /** Acks or nacks (requeue, optional delay), counted for `stop()`; a failure becomes a `settle-failed` event. */
  #settle(delivery: Delivery, operation: 'ack' | 'nack', delayMs: number): void {
    this.#settling++
    const settled = startSettle(delivery, operation, delayMs)
    // A transport that settles synchronously may hand back one shared, already fulfilled promise
    // (the memory transport does). Promises never change state, so once that one is seen to
    // fulfil, the settlement is complete now: count it without a promise reaction per message.
    if (settled === this.#fulfilled) {
      this.#settled()
      return
    }
    // Before that, settlements sharing the latest promise share one reaction.
    const last = this.#last
    if (last !== undefined && last.promise === settled && last.operation === operation) {
      last.deliveries.push(delivery)
      return
    }
    const entry = { promise: settled, operation, deliveries: [delivery] }
    this.#last = entry
    settled.then(
      () => {
        if (this.#last === entry) this.#last = undefined
        if (settled instanceof Promise) this.#fulfilled = settled
        for (let i = 0; i < entry.deliveries.length; i++) this.#settled()
      },
      (thrown: unknown) => {
        if (this.#last === entry) this.#last = undefined
        for (const failed of entry.deliveries) {
          this.#settled()
          if (this.#runtime.reports) {
            this.#runtime.emit({
              type: 'settle-failed',
              message: failed.message,
              group: this.group,
              operation,
              error: toError(thrown),
            })
          }
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

  #stopWatching(): void {
    this.#stuckTimer?.unsubscribe()
    this.#stuckTimer = undefined
    let job = this.#oldestWatched
    while (job !== undefined) {
      const next = job.nextWatched
      this.#unwatch(job)
      job = next
    }
  }

  #onStreamEnd(error: Error): void {
    if (this.#ended) return
    const runtime = this.#runtime
    const supervisor = runtime.supervisor
    if (!this.#stopping && !runtime.closed && supervisor !== undefined) {
      const verdict = supervisor.failed(this, error)
      if (verdict.restart) return
      if (verdict.escalation !== undefined && runtime.reports) {
        runtime.emit({ type: 'supervision-escalated', escalation: verdict.escalation })
      }
    }
    if (!this.#stopping && !runtime.closed) this.#failed = true
    this.#ended = true
    this.#subscription = undefined
    if (!this.#isReady) this.#rejectReady(error)
    if (!this.#stopping) {
      this.#stopWatching()
      if (this.#runtime.reports) {
        this.#runtime.emit({ type: 'subscription-failed', topic: this.topic, group: this.group, error })
      }
      // The transport took back every unsettled delivery: nothing queued here can be settled.
      this.#executor.takePending()
      this.#stopped ??= Promise.resolve()
      this.#onEnd(this)
    }
  }

  async #drain(timeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
    this.#stopping = true
    this.#restartTimer?.unsubscribe()
    this.#restartTimer = undefined
    // Not started yet: left unsettled, given back to the broker by the unsubscribe below.
    this.#executor.takePending()
    if (this.#executor.running > 0 || this.#settling > 0) {
      await new Promise<void>((resolve) => {
        const giveUp = (error: Error): void => {
          timer.unsubscribe()
          signal?.removeEventListener('abort', onAbort)
          this.#scope.abortedBy = error
          for (const job of this.#scope.watched) job.abort(error)
          this.#scope.watched.clear()
          resolve()
        }
        const onAbort = (): void =>
          giveUp(
            new CancelledError('Waiting for running handlers', {
              cause: signal?.reason,
              context: { topic: this.topic },
            }),
          )
        const timer = this.#runtime.scheduler.schedule(() => {
          if (this.#runtime.reports) {
            this.#runtime.emit({
              type: 'drain-timed-out',
              topic: this.topic,
              group: this.group,
              timeoutMs,
              running: this.#executor.running,
            })
          }
          giveUp(new TimeoutError('Stopping the handler', timeoutMs, { context: { topic: this.topic } }))
        }, timeoutMs)
        this.#idle = () => {
          timer.unsubscribe()
          signal?.removeEventListener('abort', onAbort)
          resolve()
        }
        if (signal?.aborted) onAbort()
        else signal?.addEventListener('abort', onAbort, { once: true })
      })
      this.#idle = undefined
    }
    this.#stopWatching()
    this.#ended = true
    this.#subscription?.unsubscribe()
    this.#subscription = undefined
    if (!this.#isReady) this.#rejectReady(this.#runtime.closedError(`wait for ${this.topic} to be ready`))
    // The broker side of the unsubscribe (commit-and-leave, consumer cancel) finishes here, where
    // the transport can tell; `stop()` resolves only after it.
    await this.#runtime.transport.whenDetached?.()
    this.#runtime.supervisor?.remove(this)
    this.#onEnd(this)
  }
}
