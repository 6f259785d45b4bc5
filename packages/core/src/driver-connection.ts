/**
 * `DriverConnection`: connects a driver once, retries with backoff, and reports the outcome as
 * `status$` — the connection half of a derived transport.
 *
 * It calls `driver.connect()` one attempt at a time. A failed attempt is reported as
 * `reconnecting` with its error and tried again after a backoff on the scheduler; an attempt that
 * has not answered within the connect timeout is reported the same way (while it goes on), so an
 * unreachable broker shows within seconds. Callers wait either unbounded (subscriptions) or up to
 * the connect timeout (`connect()`, `publish`). It knows nothing about messages.
 */
import type { SchedulerLike, Subscription } from 'rxjs'
import type { DriverEvent, TransportDriver } from './driver.js'
import {
  BrokerUnavailableError,
  isSwitchyardError,
  type SwitchyardError,
  TransportClosedError,
  toError,
} from './errors.js'
import type { StatusSubject } from './status-subject.js'

/** Reconnect backoff: `min(maxMs, initialMs * factor ** (failures - 1))`. */
export interface BackoffOptions {
  /** Wait after the first failed attempt (default 100 ms). */
  readonly initialMs?: number
  /** Longest wait between attempts (default 5,000 ms). */
  readonly maxMs?: number
  /** Growth of the wait per failed attempt (default 2, at least 1). */
  readonly factor?: number
}

interface Waiter {
  readonly resolve: () => void
  readonly reject: (error: Error) => void
  timer: Subscription | undefined
}

/** Wraps whatever a driver threw into a `SwitchyardError` (a driver should throw one already). */
export function driverError(kind: string, error: unknown, what: string): SwitchyardError {
  if (isSwitchyardError(error)) return error
  return new BrokerUnavailableError(kind, 'the broker', `${what} failed: ${toError(error).message}`, {
    cause: error,
  })
}

/**
 * The connection state of one derived transport: attempts, backoff, waiters and status (see the
 * module header). Internal to core.
 */
export class DriverConnection {
  readonly #driver: TransportDriver
  readonly #status: StatusSubject
  readonly #scheduler: SchedulerLike
  readonly #timeoutMs: number
  readonly #initialMs: number
  readonly #maxMs: number
  readonly #factor: number
  #connected = false
  /** True once an attempt has succeeded: later failures are reconnects of a running service. */
  #everConnected = false
  #attempting = false
  #closed = false
  #failures = 0
  #lastError: SwitchyardError | undefined
  #retry: Subscription | undefined
  #watchdog: Subscription | undefined
  #events: Subscription | undefined
  readonly #waiters = new Set<Waiter>()

  constructor(
    driver: TransportDriver,
    status: StatusSubject,
    scheduler: SchedulerLike,
    timeoutMs: number,
    backoff: BackoffOptions,
  ) {
    this.#driver = driver
    this.#status = status
    this.#scheduler = scheduler
    this.#timeoutMs = timeoutMs
    this.#initialMs = backoff.initialMs ?? 100
    this.#maxMs = backoff.maxMs ?? 5_000
    this.#factor = Math.max(1, backoff.factor ?? 2)
  }

  /** True while the driver is connected. */
  get connected(): boolean {
    return this.#connected
  }

  /**
   * `undefined` when connected now (possibly just now, synchronously); otherwise a promise that
   * resolves once connected. With `timeoutMs` it rejects with `BrokerUnavailableError` after that
   * long; it always rejects with `TransportClosedError` when the transport closes first.
   */
  ensure(timeoutMs?: number): Promise<void> | undefined {
    if (this.#closed) return Promise.reject(new TransportClosedError('connect', this.#context()))
    if (this.#connected) return undefined
    this.#start()
    if (this.#connected) return undefined
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, timer: undefined }
      this.#waiters.add(waiter)
      if (timeoutMs !== undefined) {
        waiter.timer = this.#scheduler.schedule(() => {
          this.#waiters.delete(waiter)
          reject(this.#unavailable())
        }, timeoutMs)
      }
    })
  }

  /** Waits for the connection up to the connect timeout. */
  ensureBounded(): Promise<void> | undefined {
    return this.ensure(this.#timeoutMs)
  }

  /** Stops retrying and rejects every waiter with `TransportClosedError`. */
  close(): void {
    this.#closed = true
    this.#retry?.unsubscribe()
    this.#watchdog?.unsubscribe()
    this.#events?.unsubscribe()
    for (const waiter of this.#waiters) {
      waiter.timer?.unsubscribe()
      waiter.reject(new TransportClosedError('connect', this.#context()))
    }
    this.#waiters.clear()
  }

  #start(): void {
    if (this.#attempting || this.#closed) return
    if (this.#retry !== undefined) {
      // A refused login or TLS setup is retried slowly in the background (see #failed); a use
      // does not wait for that retry but tries again now, as before the first success.
      if (!this.#refused()) return
      this.#retry.unsubscribe()
    }
    this.#attempt()
  }

  /** True when the last attempt failed on credentials or TLS settings. */
  #refused(): boolean {
    const last = this.#lastError
    return (
      last !== undefined &&
      (isSwitchyardError(last, 'AuthenticationError') || isSwitchyardError(last, 'TlsError'))
    )
  }

  #attempt(): void {
    this.#retry = undefined
    if (this.#closed) return
    this.#attempting = true
    let pending: Promise<void> | undefined
    try {
      pending = this.#driver.connect()
    } catch (error) {
      this.#failed(error)
      return
    }
    if (pending === undefined) {
      this.#succeeded()
      return
    }
    // A driver that connects synchronously never shows `connecting`.
    if (this.#failures === 0) this.#status.set('connecting')
    this.#watchdog = this.#scheduler.schedule(() => {
      this.#watchdog = undefined
      if (!this.#connected && !this.#closed) this.#status.set('reconnecting', this.#unavailable())
    }, this.#timeoutMs)
    pending.then(
      () => this.#succeeded(),
      (error: unknown) => this.#failed(error),
    )
  }

  #succeeded(): void {
    this.#attempting = false
    this.#watchdog?.unsubscribe()
    this.#watchdog = undefined
    if (this.#closed) return
    this.#connected = true
    this.#everConnected = true
    this.#failures = 0
    this.#lastError = undefined
    this.#status.set('connected')
    if (this.#events === undefined && this.#driver.events$ !== undefined) {
      this.#events = this.#driver.events$.subscribe((event) => this.#onEvent(event))
    }
    const waiters = [...this.#waiters]
    this.#waiters.clear()
    for (const waiter of waiters) {
      waiter.timer?.unsubscribe()
      waiter.resolve()
    }
  }

  #failed(thrown: unknown): void {
    this.#attempting = false
    this.#watchdog?.unsubscribe()
    this.#watchdog = undefined
    if (this.#closed) return
    const error = driverError(this.#driver.kind, thrown, 'connect')
    this.#lastError = error
    this.#failures++
    this.#status.set('reconnecting', error)
    if (this.#refused()) {
      // Retrying at once with the same credentials or TLS settings cannot help: fail the waiters;
      // the next use tries again. Before the first success that is all (a wrong setting shows at
      // once, and nothing retries it behind the caller's back). After it, a running service keeps
      // trying at the longest backoff: a broker that is still starting can refuse a login or a
      // handshake it accepts a moment later (Kafka over SASL_SSL during a restart, in CI), and a
      // consumer-only service has no next use to try again.
      const waiters = [...this.#waiters]
      this.#waiters.clear()
      for (const waiter of waiters) {
        waiter.timer?.unsubscribe()
        waiter.reject(error)
      }
      if (this.#everConnected) this.#retry = this.#scheduler.schedule(() => this.#attempt(), this.#maxMs)
      else this.#failures = 0
      return
    }
    this.#scheduleRetry()
  }

  #scheduleRetry(): void {
    const wait = Math.min(this.#maxMs, this.#initialMs * this.#factor ** Math.max(0, this.#failures - 1))
    this.#retry = this.#scheduler.schedule(() => this.#attempt(), wait)
  }

  #onEvent(event: DriverEvent): void {
    if (this.#closed) return
    if (event.type === 'rebalancing') {
      if (this.#connected) this.#status.set('rebalancing', event.error)
    } else if (event.type === 'rebalanced') {
      if (this.#connected) this.#status.set('connected')
    } else if (this.#connected) {
      this.#connected = false
      this.#lastError = event.error
      this.#failures = 1
      this.#status.set('reconnecting', event.error)
      this.#scheduleRetry()
    }
  }

  #unavailable(): SwitchyardError {
    const last = this.#lastError
    if (last !== undefined && isSwitchyardError(last, 'BrokerUnavailableError')) return last
    return new BrokerUnavailableError(
      this.#driver.kind,
      'the broker',
      `no connection within ${this.#timeoutMs} ms${last === undefined ? '' : ` (last error: ${last.message})`}`,
      last === undefined ? {} : { cause: last },
    )
  }

  #context(): { context: { transport: string } } {
    return { context: { transport: this.#driver.kind } }
  }
}
