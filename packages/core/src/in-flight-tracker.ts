/**
 * `InFlightTracker`: counts unsettled work (deliveries, publishes) so that a drain can wait for it.
 *
 * Part of `@switchyard/core/spi`, for adapters implementing `close({ drain })` or unsubscribe. It
 * only counts and wakes waiters; it never settles or cancels anything itself.
 */
import type { SchedulerLike } from 'rxjs'

/**
 * A counter with `whenIdle(timeoutMs)`.
 *
 * @example
 * const inFlight = new InFlightTracker()
 * inFlight.add()              // a delivery was handed out
 * inFlight.done()             // it was settled
 * const drained = await inFlight.whenIdle(10_000) // false: timed out with work left
 */
export class InFlightTracker {
  #count = 0
  #waiters: (() => void)[] = []

  /** Work currently in flight. */
  get count(): number {
    return this.#count
  }

  /** Counts `n` (default 1) more items in flight. */
  add(n = 1): void {
    this.#count += n
  }

  /** Counts `n` (default 1) items as finished; wakes `whenIdle` waiters at zero. Never goes below 0. */
  done(n = 1): void {
    this.#count = Math.max(0, this.#count - n)
    if (this.#count === 0 && this.#waiters.length > 0) this.#wake()
  }

  // Apart from `done`, which stays small enough to be inlined into a consumer's hot path.
  #wake(): void {
    const waiters = this.#waiters
    this.#waiters = []
    for (const wake of waiters) wake()
  }

  /**
   * Resolves `true` once nothing is in flight, or `false` after `timeoutMs` (if given) with work
   * left. The timeout runs on `scheduler` (default: `setTimeout`), so tests can use virtual time.
   * Never rejects.
   */
  whenIdle(timeoutMs?: number, scheduler?: SchedulerLike): Promise<boolean> {
    if (this.#count === 0) return Promise.resolve(true)
    return new Promise<boolean>((resolve) => {
      let cancel: (() => void) | undefined
      const wake = () => {
        cancel?.()
        resolve(true)
      }
      this.#waiters.push(wake)
      if (timeoutMs === undefined) return
      const expire = () => {
        this.#waiters = this.#waiters.filter((w) => w !== wake)
        resolve(false)
      }
      if (scheduler === undefined) {
        const timer = setTimeout(expire, timeoutMs)
        cancel = () => clearTimeout(timer)
      } else {
        const action = scheduler.schedule(expire, timeoutMs)
        cancel = () => action.unsubscribe()
      }
    })
  }
}
