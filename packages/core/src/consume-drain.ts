/**
 * `ConsumeDrain`: what lets `bus.close()` end a `consume` (or `deadLetters`) stream gracefully.
 *
 * It counts the deliveries a stream has handed to the application and not yet settled (ack or
 * nack completed at the transport). On `drain`, the stream stops handing out deliveries (those
 * arriving meanwhile stay unsettled and go back to the broker on unsubscribe, no attempt
 * counted), waits until every handed-out delivery is settled or the timeout passes, then ends
 * the stream: it unsubscribes from the transport and COMPLETES the application's stream.
 * Internal to core; the Bus keeps one per running stream in `BusRuntime.streams`.
 *
 * Hot-path rule: one counter per delivery; when the transport settles with one shared promise
 * (the memory transport does), one promise reaction in all rather than one per delivery.
 */
import type { Subscription } from 'rxjs'
import type { BusRuntime } from './bus-runtime.js'

export class ConsumeDrain {
  readonly #runtime: BusRuntime
  readonly #end: () => void
  #outstanding = 0
  #draining = false
  #ended = false
  #idle: (() => void) | undefined
  /** The last settle promise seen fulfilled: the same promise again means settled already. */
  #fulfilled: Promise<void> | undefined
  #drained: Promise<void> | undefined
  /** The latest settle promise not yet seen complete, and how many settlements share it. */
  #last: { readonly promise: Promise<void>; count: number } | undefined

  /** `end` unsubscribes from the transport and completes the application's stream. */
  constructor(runtime: BusRuntime, end: () => void) {
    this.#runtime = runtime
    this.#end = end
    runtime.streams.add(this)
  }

  /** True once `drain` started: hand out nothing more. */
  get draining(): boolean {
    return this.#draining
  }

  /** A delivery was handed to the application (or a dead-letter step started). */
  handedOut(): void {
    this.#outstanding++
  }

  /** Its settlement: counted once it completes (fulfilled or rejected). */
  settling(settled: Promise<void>): void {
    if (settled === this.#fulfilled) {
      this.#done(1)
      return
    }
    // A transport may hand back one shared promise for every settlement (memory does); settlements
    // made before it is seen fulfilled share one reaction instead of one each.
    const last = this.#last
    if (last !== undefined && last.promise === settled) {
      last.count++
      return
    }
    const entry = { promise: settled, count: 1 }
    this.#last = entry
    const finish = (): void => {
      if (this.#last === entry) this.#last = undefined
      this.#done(entry.count)
    }
    settled.then(() => {
      if (settled instanceof Promise) this.#fulfilled = settled
      finish()
    }, finish)
  }

  /** The stream ended by itself (error, completion, unsubscribe): forget it. */
  detach(): void {
    this.#ended = true
    this.#runtime.streams.delete(this)
    this.#idle?.()
  }

  /**
   * Stops handing out deliveries, waits up to `timeoutMs` for the handed-out ones to be settled,
   * then ends the stream (see module doc). Idempotent.
   */
  drain(timeoutMs: number): Promise<void> {
    this.#drained ??= this.#drain(timeoutMs)
    return this.#drained
  }

  async #drain(timeoutMs: number): Promise<void> {
    this.#draining = true
    if (!this.#ended && this.#outstanding > 0 && timeoutMs > 0) {
      await new Promise<void>((resolve) => {
        const timer: Subscription = this.#runtime.scheduler.schedule(() => {
          this.#idle = undefined
          resolve()
        }, timeoutMs)
        this.#idle = () => {
          this.#idle = undefined
          timer.unsubscribe()
          resolve()
        }
      })
    }
    if (this.#ended) return
    this.detach()
    this.#end()
  }

  #done(count: number): void {
    this.#outstanding -= count
    if (this.#outstanding === 0 && this.#idle !== undefined) this.#idle()
  }
}
