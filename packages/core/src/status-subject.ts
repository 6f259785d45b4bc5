/**
 * `StatusSubject`: the `status$` of a transport (or store), for adapter authors.
 *
 * It holds the current `TransportStatus`, replays it to each new subscriber, emits every change,
 * and completes after `closed`. Part of `@switchyard/core/spi`; adapters compose it (no base
 * class to inherit). It knows nothing about brokers or reconnect policy.
 */
import { BehaviorSubject, Observable } from 'rxjs'
import type { SwitchyardError } from './errors.js'
import type { TransportState, TransportStatus } from './transport.js'

/**
 * Holds and publishes a transport's lifecycle state.
 *
 * **Details:** `set` ignores a repeat of the current state without an error, and every call
 * after `closed` (the state is final). Setting `closed` emits it, then completes `status$`.
 *
 * @example
 * readonly #status = new StatusSubject()
 * readonly status$ = this.#status.status$
 * // on connect: this.#status.set('connected'); on outage: this.#status.set('reconnecting', error)
 */
export class StatusSubject {
  readonly #subject: BehaviorSubject<TransportStatus>
  /** Current status first (replayed to each subscriber), then every change; completes after `closed`. */
  readonly status$: Observable<TransportStatus>
  readonly #now: () => number

  constructor(initial: TransportState = 'idle', now: () => number = Date.now) {
    this.#now = now
    this.#subject = new BehaviorSubject<TransportStatus>({ state: initial, since: now() })
    // A BehaviorSubject that has completed replays nothing: late subscribers still get `closed`.
    this.status$ = new Observable<TransportStatus>((subscriber) => {
      if (this.closed) {
        subscriber.next(this.#subject.getValue())
        subscriber.complete()
        return undefined
      }
      return this.#subject.subscribe(subscriber)
    })
  }

  /** The current status. */
  get current(): TransportStatus {
    return this.#subject.getValue()
  }

  /** The current state. */
  get state(): TransportState {
    return this.#subject.getValue().state
  }

  /** True once `closed` was set. */
  get closed(): boolean {
    return this.#subject.getValue().state === 'closed'
  }

  /** Moves to `state` (with the error behind it, if any). Returns false when nothing changed. */
  set(state: TransportState, error?: SwitchyardError): boolean {
    const current = this.#subject.getValue()
    if (current.state === 'closed') return false
    if (current.state === state && error === undefined) return false
    const status: TransportStatus =
      error === undefined ? { state, since: this.#now() } : { state, since: this.#now(), error }
    this.#subject.next(status)
    if (state === 'closed') this.#subject.complete()
    return true
  }
}
