/**
 * `RabbitMqTransport`: the Switchyard `Transport` on RabbitMQ, through amqplib.
 *
 * This module wires the parts together and maps the SPI onto them: `ConnectionManager`
 * (connection, status, reconnection), `Topology` (exchanges and queues, re-declared after each
 * reconnection), `Publisher` (confirm channel) and one `Subscription` per `subscribe()` stream.
 * Semantics are the SPI's (see `@switchyard/core` `transport.ts`); what is RabbitMQ-specific is
 * documented in this package's README.
 */
import {
  BrokerUnavailableError,
  type Capabilities,
  CapabilityError,
  type CloseOptions,
  ConfigError,
  type Delivery,
  type HealthReport,
  isSwitchyardError,
  MessageTooLargeError,
  type OutgoingMessage,
  type ProvisionOptions,
  type SubscribeOptions,
  type SubscriptionHealth,
  type SwitchyardError,
  type Transport,
  TransportClosedError,
  type TransportStatus,
  validateGroup,
  validateTopic,
} from '@switchyard/core/spi'
import type { ChannelModel } from 'amqplib'
import { Observable } from 'rxjs'
import { maxHeaderBytes, messageBytes, publishProperties } from './amqp-message.js'
import { ConnectionManager } from './connection-manager.js'
import { Naming } from './naming.js'
import {
  queueOptionsFor,
  type RabbitMqTransportOptions,
  type ResolvedOptions,
  resolveOptions,
} from './options.js'
import { type Outgoing, Publisher } from './publisher.js'
import { Subscription, type SubscriptionContext } from './subscription.js'
import { Topology } from './topology.js'

const kind = 'rabbitmq'

/**
 * The RabbitMQ transport.
 *
 * **When to use**: services on RabbitMQ that want Switchyard's `Bus` (or the raw SPI) with
 * durable group queues, pattern subscriptions, priorities and broker-held delays.
 *
 * **Details**: one durable topic exchange per naming prefix (routing key = topic); a durable
 * queue per (topic or pattern, group); an exclusive auto-delete queue per subscription without a
 * group; publisher confirms on persistent messages; reconnection with backoff that re-declares the
 * topology and resumes every subscription. Claims `persistent`, `patterns`, `durableDelay`, and
 * `priority` when `queueDefaults.maxPriority` is set; not `orderedByKey` (ask for `ordered`
 * subscriptions: single active consumer) nor `replay`.
 *
 * @example
 * const transport = new RabbitMqTransport({ url: 'amqp://app:secret@127.0.0.1:5672/billing' })
 * const bus = new Bus(transport)
 * await bus.publish('orders.created', { id: 42 })
 */
export class RabbitMqTransport implements Transport {
  readonly kind = kind
  readonly capabilities: Capabilities
  readonly #options: ResolvedOptions
  readonly #naming: Naming
  readonly #connection: ConnectionManager
  readonly #topology: Topology
  readonly #publisher: Publisher
  readonly #subscriptions = new Set<Subscription>()
  /**
   * Channel closes of unsubscribed streams still under way. `close()` waits for them before it
   * closes the connection: an ack is a one-way frame, and only the channel's close handshake
   * proves the broker applied it (closing the connection first drops it: the message comes back).
   */
  readonly #detaching = new Set<Promise<void>>()
  /** Publishes waiting for the first connection (see `publish`), settled or not. */
  readonly #firstPublishes = new Set<Promise<void>>()
  readonly #context: SubscriptionContext
  #stopping = false
  #closed = false
  #closing: Promise<void> | undefined

  constructor(options: RabbitMqTransportOptions = {}) {
    this.#options = resolveOptions(options)
    const o = this.#options
    this.#naming = new Naming(o.prefix)
    this.capabilities = {
      orderedByKey: false,
      persistent: true,
      replay: false,
      priority: o.queueDefaults.maxPriority !== undefined,
      patterns: true,
      durableDelay: true,
      maxMessageBytes: o.maxMessageBytes,
    }
    this.#topology = new Topology(o, this.#naming)
    this.#connection = new ConnectionManager(o, {
      onConnected: (model) => this.#onConnected(model),
      onLost: () => this.#onLost(),
      onFatal: (error) => this.#onFatal(error),
      hasDemand: () => this.#subscriptions.size > 0 || this.#publisher.waiting > 0,
    })
    this.#publisher = new Publisher(o, this.#connection, () => this.#topology.redeclareExchanges())
    this.#context = {
      endpoint: o.endpoint,
      naming: this.#naming,
      connection: this.#connection,
      topology: this.#topology,
      publisher: this.#publisher,
      isClosed: () => this.#closed,
      isStopping: () => this.#stopping,
      declareGroup: (topic, group, ordered) => this.#declareGroup(topic, group, ordered),
      consumerLost: (_subscription, error) => {
        const state = this.#connection.status.state
        if (state === 'connected' || state === 'rebalancing') this.#connection.setStatus('rebalancing', error)
      },
      consumerBack: () => {
        if (this.#connection.status.state !== 'rebalancing') return
        if ([...this.#subscriptions].some((s) => s.lostError !== undefined)) return
        this.#connection.setStatus('connected')
      },
    }
  }

  /** Current status first, then every change; completes after `closed`. */
  get status$(): Observable<TransportStatus> {
    return this.#connection.status$
  }

  /**
   * Escape hatch: the live amqplib connection (`undefined` while disconnected). Channels you open
   * on it are yours to close; do not close the connection itself.
   */
  get connection(): ChannelModel | undefined {
    return this.#connection.model
  }

  /** The names this transport gives its exchanges and queues (see the README's topology section). */
  get naming(): Naming {
    return this.#naming
  }

  async connect(): Promise<void> {
    if (this.#stopping) throw this.#closedError('connect')
    await this.#connection.ensure(true)
  }

  publish(messages: readonly OutgoingMessage[]): Promise<void> {
    if (this.#stopping) return Promise.reject(this.#closedError('publish'))
    const count = messages.length
    if (count === 0) return Promise.resolve()
    const batch: Outgoing[] = new Array(count)
    const limit = this.#options.maxMessageBytes
    const mandatory = this.#options.mandatory
    const exchange = this.#naming.exchange
    let lastTopic: string | undefined
    try {
      for (let i = 0; i < count; i++) {
        const message = messages[i] as OutgoingMessage
        const topic = message.topic
        if (topic !== lastTopic) {
          validateTopic(topic)
          lastTopic = topic
        }
        const payload = message.payload
        if (payload.byteLength + 4096 > limit || hasLargeHeaders(message)) {
          const size = messageBytes(message)
          if (size.total > limit)
            throw new MessageTooLargeError(topic, size.total, limit, { context: { transport: kind } })
          if (size.headers > maxHeaderBytes) {
            throw new MessageTooLargeError(topic, size.headers, maxHeaderBytes, {
              context: { transport: kind, part: 'headers' },
            })
          }
        }
        batch[i] = {
          exchange,
          routingKey: topic,
          content: Buffer.isBuffer(payload)
            ? payload
            : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength),
          properties: publishProperties(message, mandatory),
          topic,
        }
      }
    } catch (error) {
      return Promise.reject(error)
    }
    if (this.#connection.fatal) return Promise.reject(this.#connection.fatal)
    if (!this.#connection.connectedOnce) {
      // Never connected yet: a broker that cannot be reached is reported now (as by connect()),
      // not after publishWaitMs; once connected, outages are waited through up to publishWaitMs.
      // Tracked until settled, so that close() flushes it (the publisher does not know it yet).
      const run = this.#connection.ensure(true).then(() => this.#publisher.publish(batch))
      const settled = run.then(
        () => undefined,
        () => undefined,
      )
      this.#firstPublishes.add(settled)
      void settled.then(() => this.#firstPublishes.delete(settled))
      return run
    }
    return this.#publisher.publish(batch)
  }

  async provision(topic: string, options: ProvisionOptions = {}): Promise<void> {
    if (this.#stopping) throw this.#closedError('provision')
    validateTopic(topic, { allowPatterns: true })
    const groups = (options.groups ?? []).map((g) => validateGroup(g))
    await this.#connected('provision')
    await Promise.all(groups.map((group) => this.#declareGroup(topic, group, false)))
  }

  /**
   * Deletes the queues of the given groups on `topic` (a pattern is allowed) and the dead-letter
   * queues declared beside them (`deadLetterGroup`). The exchanges and the delay queues are shared
   * by every topic and are kept.
   */
  async deprovision(topic: string, options: ProvisionOptions = {}): Promise<void> {
    if (this.#stopping) throw this.#closedError('deprovision')
    validateTopic(topic, { allowPatterns: true })
    const groups = (options.groups ?? []).map((g) => validateGroup(g))
    await this.#connected('deprovision')
    const queues = new Set(groups.map((group) => this.#naming.groupQueue(topic, group)))
    const deadLetterGroup = this.#options.deadLetterGroup
    if (deadLetterGroup !== undefined && !topic.endsWith('.dlq') && !/[*#]/.test(topic)) {
      queues.add(this.#naming.groupQueue(`${topic}.dlq`, deadLetterGroup))
    }
    for (const queue of queues) await this.#topology.deleteGroupQueue(queue)
  }

  subscribe(topic: string, options: SubscribeOptions = {}): Observable<Delivery> {
    return new Observable<Delivery>((subscriber) => {
      try {
        if (this.#stopping) throw this.#closedError('subscribe')
        validateTopic(topic, { allowPatterns: true })
        if (options.group !== undefined) validateGroup(options.group)
        if (options.fromBeginning) {
          throw new CapabilityError(
            kind,
            'fromBeginning (replay of messages published before a group existed)',
            {
              context: { topic },
            },
          )
        }
        const inFlight = options.inFlight ?? this.#options.prefetch
        if (!(Number.isInteger(inFlight) && inFlight >= 1 && inFlight <= 65_535)) {
          throw new ConfigError(
            'subscribe options',
            [`inFlight must be an integer from 1 to 65535, got ${inFlight}`],
            {
              context: { field: 'inFlight', topic },
            },
          )
        }
        if (this.#connection.fatal) throw this.#connection.fatal
        const subscription = new Subscription(
          this.#context,
          {
            topic,
            group: options.group,
            prefetch: inFlight,
            ordered: options.ordered ?? false,
            onReady: options.onReady,
          },
          subscriber,
        )
        this.#subscriptions.add(subscription)
        void subscription.attach()
        return () => {
          this.#subscriptions.delete(subscription)
          const detaching = subscription.detach()
          this.#detaching.add(detaching)
          void detaching.finally(() => this.#detaching.delete(detaching))
        }
      } catch (error) {
        subscriber.error(error)
        return undefined
      }
    })
  }

  async health(): Promise<HealthReport> {
    const status = this.#connection.status
    const subscriptions: SubscriptionHealth[] = await Promise.all(
      [...this.#subscriptions].map(async (s) => {
        const base = { topic: s.spec.topic, group: s.spec.group, inFlight: s.unsettled }
        const queue = s.queue
        if (queue === undefined || status.state === 'closed') return base
        const stats = await withTimeout(
          this.#topology.inspect(queue).catch(() => undefined),
          2_000,
        )
        return stats ? { ...base, lag: stats.messageCount, consumers: stats.consumerCount } : base
      }),
    )
    const lost = [...this.#subscriptions].find((s) => s.lostError !== undefined)
    const up = status.state === 'connected' && lost === undefined
    const degraded = status.state === 'reconnecting' || status.state === 'rebalancing' || lost !== undefined
    const error = status.error?.message ?? lost?.lostError?.message
    const report: HealthReport = {
      status: up ? 'up' : degraded && !this.#closed ? 'degraded' : 'down',
      kind,
      state: status.state,
      subscriptions,
      details: {
        ...this.#connection.details(),
        prefix: this.#options.prefix,
        exchange: this.#naming.exchange,
        channels:
          [...this.#subscriptions].filter((s) => s.attached).length + (this.#publisher.channelOpen ? 1 : 0),
        publishWaiting: this.#publisher.waiting,
      },
    }
    return error === undefined ? report : { ...report, error }
  }

  close(options: CloseOptions = {}): Promise<void> {
    this.#closing ??= this.#close(options.drain ?? true, options.timeoutMs ?? 10_000)
    return this.#closing
  }

  async #close(drain: boolean, timeoutMs: number): Promise<void> {
    this.#stopping = true
    this.#connection.setStatus('closing')
    const subscriptions = [...this.#subscriptions]
    const deadline = Date.now() + timeoutMs
    // Publishes accepted before close() are flushed (even while the first connection is still
    // being made); those still unconfirmed at the deadline reject with TransportClosedError.
    const flushed = (async () => {
      await withTimeout(Promise.all([...this.#firstPublishes]), timeoutMs)
      await this.#publisher.settled(Math.max(0, deadline - Date.now()))
    })()
    if (drain && this.#connection.model) {
      await Promise.all(subscriptions.map((s) => s.stopConsuming()))
      await Promise.all(subscriptions.map((s) => s.drained(Math.max(0, deadline - Date.now()))))
    }
    await flushed
    this.#closed = true
    this.#publisher.close()
    // A deliberate close ends the streams quietly: they complete, they do not error.
    for (const s of subscriptions) {
      this.#subscriptions.delete(s)
      s.end()
    }
    await Promise.all([...subscriptions.map((s) => s.detach()), ...this.#detaching])
    await this.#connection.close()
    this.#connection.finish()
  }

  async #onConnected(model: ChannelModel): Promise<void> {
    await this.#topology.onConnected(model)
    await this.#publisher.onConnected(model)
    for (const s of this.#subscriptions) void s.attach()
  }

  #onLost(): void {
    this.#topology.onLost()
    this.#publisher.onLost()
    for (const s of this.#subscriptions) s.onLost()
  }

  #onFatal(error: SwitchyardError): void {
    this.#onLost()
    for (const s of [...this.#subscriptions]) {
      this.#subscriptions.delete(s)
      s.fail(error)
    }
    this.#connection.finish(error)
  }

  /**
   * Declares a group's queue (and its dead-letter queue). A queue that already exists with or
   * without single active consumer is used as it is; an `ordered` subscription on a queue without
   * it then consumes exclusively (`exclusive: true` in the result), with the others on standby.
   */
  async #declareGroup(
    topic: string,
    group: string,
    ordered: boolean,
  ): Promise<{ queue: string; exclusive: boolean }> {
    const queue = this.#naming.groupQueue(topic, group)
    const declare = (sac: boolean): Promise<void> =>
      this.#topology.groupQueue({
        queue,
        bindingKey: topic,
        options: queueOptionsFor(this.#options, group, sac),
      })
    const deadLetterGroup = this.#options.deadLetterGroup
    const dlq =
      deadLetterGroup !== undefined && !topic.endsWith('.dlq') && !/[*#]/.test(topic) && topic.length <= 196
        ? this.#topology.groupQueue({
            queue: this.#naming.groupQueue(`${topic}.dlq`, deadLetterGroup),
            bindingKey: `${topic}.dlq`,
            options: queueOptionsFor(this.#options, deadLetterGroup, false),
          })
        : undefined
    let exclusive = false
    try {
      await declare(ordered)
    } catch (error) {
      const sacMismatch =
        isSwitchyardError(error, 'ConfigError') &&
        /x-single-active-consumer/.test(String((error.cause as Error)?.message))
      if (!sacMismatch) throw error
      await declare(!ordered)
      exclusive = ordered
    }
    await dlq
    return { queue, exclusive }
  }

  /** Waits (bounded by `publishWaitMs`) for a usable connection. */
  async #connected(operation: string): Promise<void> {
    const model = await this.#connection.within(this.#options.publishWaitMs)
    if (!model) {
      throw new BrokerUnavailableError(
        kind,
        this.#options.endpoint,
        `cannot ${operation}: no connection within ${this.#options.publishWaitMs} ms (publishWaitMs)`,
        { cause: this.#connection.status.error },
      )
    }
  }

  #closedError(operation: string): TransportClosedError {
    return new TransportClosedError(operation, { context: { transport: kind } })
  }
}

function hasLargeHeaders(message: OutgoingMessage): boolean {
  let chars = message.key?.length ?? 0
  for (const name in message.headers) chars += name.length + (message.headers[name]?.length ?? 0)
  // UTF-8 takes at most 3 bytes per UTF-16 unit.
  return chars * 3 > maxHeaderBytes - 1024
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), ms)
    promise.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      () => {
        clearTimeout(timer)
        resolve(undefined)
      },
    )
  })
}
