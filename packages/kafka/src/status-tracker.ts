/**
 * `StatusTracker`: the transport's `status$`, computed from a base lifecycle state plus problems
 * reported by its parts (producer, admin, each subscription's consumer).
 *
 * A part reports `rebalancing` or `reconnecting` (with the error) and clears its report once it is
 * fine again; the transport is `reconnecting` while any part is, else `rebalancing` while any part
 * is, else `connected`. Only changes of state are emitted. Private to the Kafka adapter.
 */
import type { SwitchyardError, TransportState, TransportStatus } from '@switchyard/core/spi'
import { type Observable, ReplaySubject } from 'rxjs'

type Base = 'idle' | 'connecting' | 'connected' | 'closing' | 'closed'
type Problem = { readonly state: 'rebalancing' | 'reconnecting'; readonly error?: SwitchyardError }

export class StatusTracker {
  readonly #subject = new ReplaySubject<TransportStatus>(1)
  readonly #problems = new Map<object, Problem>()
  #base: Base = 'idle'
  /** Why the last connect failed, while the base state is `idle` after it. */
  #baseError: SwitchyardError | undefined
  #current: TransportStatus = { state: 'idle', since: Date.now() }

  constructor() {
    this.#subject.next(this.#current)
  }

  /** Current status first, then each change; completes after `closed`. */
  get status$(): Observable<TransportStatus> {
    return this.#subject.asObservable()
  }

  get current(): TransportStatus {
    return this.#current
  }

  set base(base: Base) {
    if (this.#base === 'closed') return
    this.#base = base
    this.#baseError = undefined
    this.#recompute()
    if (base === 'closed') this.#subject.complete()
  }

  /** A connect attempt failed: back to `idle`, with the error shown on `status$`. */
  failed(error: SwitchyardError): void {
    if (this.#base === 'closed' || this.#base === 'closing') return
    this.#base = 'idle'
    this.#baseError = error
    this.#current = { state: 'idle', since: Date.now(), error }
    this.#subject.next(this.#current)
  }

  /** `source` (any object) has a problem, or none when `problem` is undefined. */
  report(source: object, problem: Problem | undefined): void {
    if (problem === undefined) {
      if (!this.#problems.delete(source)) return
    } else {
      this.#problems.set(source, problem)
    }
    this.#recompute()
  }

  #recompute(): void {
    let state: TransportState = this.#base
    let error: SwitchyardError | undefined = this.#baseError
    if (this.#base === 'connected') {
      for (const problem of this.#problems.values()) {
        if (problem.state === 'reconnecting') {
          state = 'reconnecting'
          error = problem.error
          break
        }
        state = 'rebalancing'
      }
    }
    if (state === this.#current.state) return
    this.#current = error === undefined ? { state, since: Date.now() } : { state, since: Date.now(), error }
    this.#subject.next(this.#current)
  }
}
