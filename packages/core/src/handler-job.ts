/**
 * `Job`: one delivery on its way through a `Bus.handle` handler, which is also the handler's
 * `context` (`signal`, `delivery`).
 *
 * The `AbortController` behind `signal` is created only when the handler reads it (or when the
 * job must be aborted), so handlers that ignore it cost nothing. Internal to core.
 */
import type { HandlerContext } from './bus-options.js'
import type { Delivery, Message } from './message.js'

/** Jobs of one handler whose `signal` was created, so that a timed-out `stop()` can abort them. */
export interface Signals {
  readonly watched: Set<Job>
  /** Set once `stop()` gave up waiting: signals created later start aborted. */
  abortedBy: Error | undefined
}

/** One delivery on its way through the handler; also the handler's `context`. */
export class Job implements HandlerContext {
  readonly delivery: Delivery
  readonly #signals: Signals
  message: Message<unknown> | undefined
  started = 0
  #controller: AbortController | undefined

  constructor(delivery: Delivery, signals: Signals) {
    this.delivery = delivery
    this.#signals = signals
  }

  get signal(): AbortSignal {
    return this.#control().signal
  }

  abort(reason: Error): void {
    this.#control().abort(reason)
  }

  /** Forgets the signal once the job is over. */
  end(): void {
    if (this.#controller !== undefined) this.#signals.watched.delete(this)
  }

  #control(): AbortController {
    if (this.#controller === undefined) {
      this.#controller = new AbortController()
      if (this.#signals.abortedBy !== undefined) this.#controller.abort(this.#signals.abortedBy)
      else this.#signals.watched.add(this)
    }
    return this.#controller
  }
}
