/**
 * `ConnectionManager`: the one amqplib connection of a RabbitMQ driver, mapped onto the driver
 * SPI's connection half.
 *
 * `open()` makes **one** attempt (the core retries with backoff and reports `status$`); a lost
 * connection is reported once as a `disconnected` driver event and to the driver's `onLost`
 * hook, so channels, topology and consumers forget what lived on it. It also lets a publish that
 * was cut off by the loss wait for the next connection (`within`). It does not know about
 * channels, topology or subscriptions, and it never retries by itself.
 */

import { type DriverEvent, type SwitchyardError, TransportClosedError } from '@switchyard/core/spi'
import { connect as amqpConnect, type ChannelModel } from 'amqplib'
import { type Observable, Subject } from 'rxjs'
import { connectionError, describe, tlsConnectError } from './errors.js'
import type { ResolvedOptions } from './options.js'

export class ConnectionManager {
  readonly #options: ResolvedOptions
  readonly #onLost: (error: SwitchyardError) => void
  readonly #events = new Subject<DriverEvent>()
  /** Resolvers of `within` calls, released by the next connection (or by `close`). */
  readonly #waiters = new Set<(model: ChannelModel | undefined) => void>()
  #model: ChannelModel | undefined
  /** `#model` once its topology is declared: what publishes use. */
  #usable: ChannelModel | undefined
  #closed = false
  /** Index in `options.nodes` of the node to try first: the last one that answered. */
  #node = 0
  #blocked: string | undefined
  #lastError: SwitchyardError | undefined

  /** `onLost` runs when the connection drops (not on `close`), before `disconnected` is reported. */
  constructor(options: ResolvedOptions, onLost: (error: SwitchyardError) => void) {
    this.#options = options
    this.#onLost = onLost
  }

  /** `disconnected` events for the core (and `rebalancing`/`rebalanced` the driver reports through `emit`). */
  get events$(): Observable<DriverEvent> {
    return this.#events.asObservable()
  }

  /** The live connection, if any (the escape hatch exposed by the transport). */
  get model(): ChannelModel | undefined {
    return this.#model
  }

  /** The connection once its topology is declared (`undefined` while connecting or disconnected). */
  get usable(): ChannelModel | undefined {
    return this.#usable
  }

  /** The error of the last failed attempt or loss, for `health()` and publish errors. */
  get lastError(): SwitchyardError | undefined {
    return this.#lastError
  }

  emit(event: DriverEvent): void {
    if (!this.#closed) this.#events.next(event)
  }

  /** One connection attempt; rejects with `AuthenticationError`, `TlsError` or `BrokerUnavailableError`. */
  async open(): Promise<ChannelModel> {
    if (this.#closed) throw new TransportClosedError('connect', { context: { transport: 'rabbitmq' } })
    let model: ChannelModel
    try {
      model = await this.#connect()
    } catch (error) {
      this.#lastError = connectionError(error, this.#options.endpoint)
      throw this.#lastError
    }
    if (this.#closed) {
      await model.close().catch(() => undefined)
      throw new TransportClosedError('connect', { context: { transport: 'rabbitmq' } })
    }
    this.#bind(model)
    this.#model = model
    return model
  }

  /** The connection failed while it was being set up (topology refused): drop it without an event. */
  async discard(model: ChannelModel): Promise<void> {
    if (this.#model === model) this.#model = undefined
    if (this.#usable === model) this.#usable = undefined
    await model.close().catch(() => undefined)
  }

  /** The connection is usable (topology declared): release publishes waiting for it. */
  ready(model: ChannelModel): void {
    if (this.#model !== model) return
    this.#usable = model
    this.#lastError = undefined
    for (const wake of [...this.#waiters]) wake(model)
  }

  /**
   * Drops a connection that stopped answering while its socket stays up (the broker opens no
   * channel on it): its socket is destroyed, so it is reported lost and the core reconnects,
   * through the next node first, as after any loss. `why` becomes the error's reason.
   */
  sever(model: ChannelModel, why: string): void {
    if (this.#model !== model) return
    const socket = (model.connection as unknown as { stream?: { destroy(error?: Error): void } }).stream
    socket?.destroy(new Error(why))
  }

  /** The live connection, or the next one within `timeoutMs` (`undefined` after that or on close). */
  within(timeoutMs: number): Promise<ChannelModel | undefined> {
    if (this.#usable || this.#closed) return Promise.resolve(this.#usable)
    return new Promise((resolve) => {
      const wake = (model: ChannelModel | undefined): void => {
        clearTimeout(timer)
        this.#waiters.delete(wake)
        resolve(model)
      }
      const timer = setTimeout(() => wake(undefined), timeoutMs)
      this.#waiters.add(wake)
    })
  }

  async close(): Promise<void> {
    this.#closed = true
    for (const wake of [...this.#waiters]) wake(undefined)
    this.#events.complete()
    const model = this.#model
    this.#model = undefined
    this.#usable = undefined
    if (model) {
      try {
        await model.close()
      } catch {
        // already closed by the broker: nothing left to release
      }
    }
  }

  /** Facts for `health()`, never credentials. */
  details(): Record<string, unknown> {
    const model = this.#model
    return {
      endpoint: this.#options.endpoint,
      connected: model !== undefined,
      serverVersion: model?.connection.serverProperties.version,
      blocked: this.#blocked,
      lastError: this.#lastError ? describe(this.#lastError) : undefined,
    }
  }

  /**
   * Tries each node once, starting with the last that answered (after a loss, the next one: the
   * lost node is probably down), and rejects with the last node's error when none answers.
   */
  async #connect(): Promise<ChannelModel> {
    const nodes = this.#options.nodes
    let lastError: unknown
    for (let tried = 0; tried < nodes.length; tried++) {
      const index = (this.#node + tried) % nodes.length
      try {
        const model = await this.#connectTo(nodes[index] as { host: string; port: number })
        this.#node = index
        return model
      } catch (error) {
        const node = nodes[index] as { host: string; port: number }
        const tls = await tlsConnectError(error, this.#options.protocol, node)
        lastError = tls ?? error
        // A refused login or a TLS mismatch is the same on every node of a cluster: report it at once.
        if (tls !== undefined || /ACCESS_REFUSED|403/.test(String((error as Error)?.message))) break
      }
    }
    throw lastError
  }

  #connectTo(node: { host: string; port: number }): Promise<ChannelModel> {
    const o = this.#options
    return amqpConnect(
      {
        protocol: o.protocol,
        hostname: node.host,
        port: node.port,
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
      // Reconnect through the next node first: the one just lost is probably down.
      this.#node = (this.#node + 1) % this.#options.nodes.length
      this.#usable = undefined
      this.#blocked = undefined
      if (this.#closed) return
      const error = connectionError(cause ?? new Error('the connection closed'), this.#options.endpoint)
      this.#lastError = error
      this.#onLost(error)
      this.#events.next({ type: 'disconnected', error })
    })
  }
}
