/**
 * `Job`: one delivery on its way through a `Bus.handle` chain. It is both the middleware's
 * `HandleContext` and the handler's `context` (`signal`, `delivery`).
 *
 * The `AbortController` behind `signal` is created only when someone reads it (or when the
 * job must be aborted), so handlers that ignore it cost nothing. Internal to core.
 */
import type { HandlerContext } from './bus-options.js'
import type { Delivery, Message } from './message.js'
import type { HandleContext } from './middleware.js'

/** What every job of one handler shares (one object per `handle`). */
export interface JobScope {
  readonly topic: string
  readonly group: string | undefined
  /** Jobs whose `signal` was created, so that a timed-out `stop()` can abort them. */
  readonly watched: Set<Job>
  /** Set once `stop()` gave up waiting: signals created later start aborted. */
  abortedBy: Error | undefined
}

/** One delivery on its way through the handler chain; also the handler's `context`. */
export class Job implements HandleContext, HandlerContext {
  readonly delivery: Delivery
  readonly #scope: JobScope
  message: Message<unknown> | undefined
  /** `performance.now()` at start, only while `events$` is observed. */
  started = 0
  /**
   * While watched for stuck detection: start time in ms since the handler's clock base (kept
   * small so that it stays a small integer, no heap number per job); -1 when not watched.
   */
  since = -1
  /** Neighbours in the handler's list of watched (asynchronous, not yet reported) jobs. */
  prevWatched: Job | undefined
  nextWatched: Job | undefined
  /** First failure time of this message id, once a failure was seen. */
  firstFailureAt: number | undefined
  #controller: AbortController | undefined

  constructor(delivery: Delivery, scope: JobScope) {
    this.delivery = delivery
    this.#scope = scope
  }

  get topic(): string {
    return this.#scope.topic
  }

  get group(): string | undefined {
    return this.#scope.group
  }

  get raw(): Message<Uint8Array> {
    return this.delivery.message
  }

  get attempt(): number {
    return this.delivery.message.attempt
  }

  get signal(): AbortSignal {
    return this.#control().signal
  }

  abort(reason: Error): void {
    this.#control().abort(reason)
  }

  /** Forgets the signal once the job is over. */
  end(): void {
    if (this.#controller !== undefined) this.#scope.watched.delete(this)
  }

  #control(): AbortController {
    if (this.#controller === undefined) {
      this.#controller = new AbortController()
      if (this.#scope.abortedBy !== undefined) this.#controller.abort(this.#scope.abortedBy)
      else this.#scope.watched.add(this)
    }
    return this.#controller
  }
}
