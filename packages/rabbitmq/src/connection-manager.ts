/**
 * `ConnectionManager`: owns the one amqplib connection of a transport, its status and its
 * reconnection loop.
 *
 * It opens the connection on demand, reconnects with jittered exponential backoff after a loss
 * (while anything still needs the broker), reports every change on `status$`, and stops for good
 * on a refused login (`AuthenticationError`) instead of retrying forever. It does not know about
 * channels, topology or subscriptions: the transport reacts to `onConnected` / `onLost`.
 */

import {
  type SwitchyardError,
  TransportClosedError,
  type TransportState,
  type TransportStatus,
} from '@switchyard/core/spi'
import { connect as amqpConnect, type ChannelModel } from 'amqplib'
import { type Observable, ReplaySubject } from 'rxjs'
import { connectionError, describe } from './errors.js'
import type { ResolvedOptions } from './options.js'

/** What the transport does when the connection comes and goes. */
export interface ConnectionHooks {
  /** Runs after each (re)connection, before waiters are released; throwing counts as a failed attempt. */
  onConnected(model: ChannelModel): Promise<void>
  /** The connection was lost (not by `close`): every channel on it is gone. */
  onLost(error: SwitchyardError): void
  /** The broker refused the credentials: the transport cannot continue. */
  onFatal(error: SwitchyardError): void
  /** True while something (a subscription, a waiting publish) needs the broker. */
  hasDemand(): boolean
}

interface Waiter {
  readonly failFast: boolean
  resolve(model: ChannelModel): void
  reject(error: SwitchyardError): void
}

export class ConnectionManager {
  readonly #options: ResolvedOptions
  readonly #hooks: ConnectionHooks
  readonly #status = new ReplaySubject<TransportStatus>(1)
  #current: TransportStatus = { state: 'idle', since: Date.now() }
  readonly #waiters = new Set<Waiter>()
  #model: ChannelModel | undefined
  #running = false
  #closed = false
  #fatal: SwitchyardError | undefined
  #connectedOnce = false
  #sleep: { timer: NodeJS.Timeout; wake: () => void } | undefined
  #blocked: string | undefined

  constructor(options: ResolvedOptions, hooks: ConnectionHooks) {
    this.#options = options
    this.#hooks = hooks
    this.#status.next(this.#current)
  }

  get status$(): Observable<TransportStatus> {
    return this.#status.asObservable()
  }

  get status(): TransportStatus {
    return this.#current
  }

  /** The live connection, if any (the escape hatch exposed by the transport). */
  get model(): ChannelModel | undefined {
    return this.#model
  }

  /** Why the broker blocks publishers (resource alarm), if it does. */
  get blocked(): string | undefined {
    return this.#blocked
  }

  /** True once a connection was made (afterwards outages are waited through, not failed fast). */
  get connectedOnce(): boolean {
    return this.#connectedOnce
  }

  get fatal(): SwitchyardError | undefined {
    return this.#fatal
  }

  setStatus(state: TransportState, error?: SwitchyardError): void {
    const current = this.#current
    if (current.state === 'closed') return
    if (current.state === state && current.error === error) return
    this.#current = error === undefined ? { state, since: Date.now() } : { state, since: Date.now(), error }
    this.#status.next(this.#current)
  }

  /**
   * The live connection, connecting if needed. `failFast` rejects on the first failed attempt
   * (`connect()`); otherwise it waits through reconnection (callers bound the wait themselves).
   */
  ensure(failFast: boolean): Promise<ChannelModel> {
    if (this.#closed)
      return Promise.reject(
        new TransportClosedError('use the connection', { context: { transport: 'rabbitmq' } }),
      )
    if (this.#fatal) return Promise.reject(this.#fatal)
    if (this.#model) return Promise.resolve(this.#model)
    return new Promise<ChannelModel>((resolve, reject) => {
      this.#waiters.add({ failFast, resolve, reject })
      this.#start()
    })
  }

  /**
   * Like `ensure(false)`, but gives up after `timeoutMs`: resolves `undefined` then (and
   * withdraws the wait, so it no longer counts as demand).
   */
  within(timeoutMs: number): Promise<ChannelModel | undefined> {
    if (this.#model || this.#closed || this.#fatal) return this.ensure(false)
    return new Promise<ChannelModel | undefined>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter)
        resolve(undefined)
      }, timeoutMs)
      const waiter: Waiter = {
        failFast: false,
        resolve: (model) => {
          clearTimeout(timer)
          resolve(model)
        },
        reject: (error) => {
          clearTimeout(timer)
          reject(error)
        },
      }
      this.#waiters.add(waiter)
      this.#start()
    })
  }

  async close(): Promise<void> {
    this.#closed = true
    this.#sleep?.wake()
    const error = new TransportClosedError('use the connection', { context: { transport: 'rabbitmq' } })
    for (const waiter of this.#waiters) waiter.reject(error)
    this.#waiters.clear()
    const model = this.#model
    this.#model = undefined
    if (model) {
      try {
        await model.close()
      } catch {
        // already closed by the broker: nothing left to release
      }
    }
  }

  /** Final state; completes `status$`. */
  finish(error?: SwitchyardError): void {
    if (this.#current.state !== 'closed') this.setStatus('closed', error)
    this.#status.complete()
  }

  #start(): void {
    if (this.#running) return
    this.#running = true
    void this.#run().finally(() => {
      this.#running = false
    })
  }

  async #run(): Promise<void> {
    let attempt = 0
    let lastError: SwitchyardError | undefined
    while (!this.#closed && !this.#fatal) {
      this.setStatus(this.#connectedOnce ? 'reconnecting' : 'connecting', lastError)
      let model: ChannelModel | undefined
      try {
        model = await this.#open()
        if (this.#closed) {
          await model.close().catch(() => undefined)
          return
        }
        this.#bind(model)
        this.#model = model
        await this.#hooks.onConnected(model)
        if (this.#model !== model) throw new Error('the connection closed while its topology was declared')
        this.#connectedOnce = true
        this.setStatus('connected')
        const waiters = [...this.#waiters]
        this.#waiters.clear()
        for (const waiter of waiters) waiter.resolve(model)
        return
      } catch (thrown) {
        if (model && this.#model === model) {
          this.#model = undefined
          await model.close().catch(() => undefined)
        }
        if (this.#closed) return
        const error = connectionError(thrown, this.#options.endpoint)
        lastError = error
        if (error.name === 'AuthenticationError') {
          this.#fatal = error
          for (const waiter of this.#waiters) waiter.reject(error)
          this.#waiters.clear()
          this.#hooks.onFatal(error)
          return
        }
        if (error.name === 'ConfigError') {
          // A topology refusal on reconnect: report it and keep the connection attempts going.
          lastError = error
        }
        for (const waiter of [...this.#waiters]) {
          if (waiter.failFast) {
            this.#waiters.delete(waiter)
            waiter.reject(error)
          }
        }
        if (this.#waiters.size === 0 && !this.#hooks.hasDemand()) {
          this.setStatus(this.#connectedOnce ? 'reconnecting' : 'idle', error)
          return
        }
        this.setStatus(this.#connectedOnce ? 'reconnecting' : 'connecting', error)
        await this.#pause(this.#delay(attempt++))
      }
    }
  }

  #delay(attempt: number): number {
    const { initialDelayMs, maxDelayMs, factor } = this.#options.reconnect
    const base = Math.min(maxDelayMs, initialDelayMs * factor ** attempt)
    return Math.round(base * (0.8 + Math.random() * 0.4))
  }

  #pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer)
        this.#sleep = undefined
        resolve()
      }
      const timer = setTimeout(wake, ms)
      this.#sleep = { timer, wake }
    })
  }

  #open(): Promise<ChannelModel> {
    const o = this.#options
    return amqpConnect(
      {
        protocol: o.protocol,
        hostname: o.host,
        port: o.port,
        username: o.username,
        password: o.password,
        // amqplib unescapes the vhost of an options object, so escape it here.
        vhost: encodeURIComponent(o.vhost),
        heartbeat: o.heartbeatSeconds,
      },
      {
        ...o.tls,
        timeout: o.connectTimeoutMs,
        noDelay: true,
        clientProperties: { connection_name: o.connectionName },
      },
    )
  }

  #bind(model: ChannelModel): void {
    model.on('error', () => {
      // 'close' follows with the same error; handled there.
    })
    model.on('blocked', (reason: string) => {
      this.#blocked = reason
    })
    model.on('unblocked', () => {
      this.#blocked = undefined
    })
    model.on('close', (cause?: Error) => {
      if (this.#model !== model) return
      this.#model = undefined
      this.#blocked = undefined
      if (this.#closed) return
      const error = connectionError(cause ?? new Error('the connection closed'), this.#options.endpoint)
      if (error.name === 'AuthenticationError') {
        this.#fatal = error
        this.#hooks.onFatal(error)
        return
      }
      this.setStatus('reconnecting', error)
      this.#hooks.onLost(error)
      this.#start()
    })
  }

  /** Facts for `health()`, never credentials. */
  details(): Record<string, unknown> {
    const model = this.#model
    return {
      endpoint: this.#options.endpoint,
      connected: model !== undefined,
      serverVersion: model?.connection.serverProperties.version,
      blocked: this.#blocked,
      lastError: this.#current.error ? describe(this.#current.error) : undefined,
    }
  }
}
