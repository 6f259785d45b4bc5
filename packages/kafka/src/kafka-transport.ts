/**
 * `KafkaTransport`: the Switchyard `Transport` for Apache Kafka, on kafkajs.
 *
 * It owns one kafkajs client, one admin client and one idempotent producer (acks=-1), creates
 * topics on first use, and gives each subscription its own consumer (see `KafkaSubscription`).
 * It does not retry, dead-letter or decode: the `Bus` in `@switchyard/core` does that on top.
 */

import { randomUUID } from 'node:crypto'
import {
  BrokerUnavailableError,
  type Capabilities,
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
  SwitchyardHeaders,
  type Transport,
  TransportClosedError,
  type TransportStatus,
  validateGroup,
  validateTopic,
} from '@switchyard/core/spi'
// kafkajs is CommonJS: Node's ESM loader cannot see all of its named exports, so values come
// from the default export (types are erased and may be imported by name).
import kafkajs, {
  type Admin,
  type Kafka as KafkaClient,
  type Message as KafkaRecord,
  type Producer,
  type TopicMessages,
} from 'kafkajs'
import { Observable } from 'rxjs'
import { anyReachable } from './broker-probe.js'
import { type ErrorSite, isStaleConnection, mapKafkaError } from './errors.js'
import { GroupOffsetWriter } from './group-offsets.js'
import { KafkaSubscription, type SubscriptionHost } from './kafka-subscription.js'
import { createLogCreator, kafkaLogLevel } from './logger.js'
import { type KafkaTransportOptions, type ResolvedKafkaOptions, resolveKafkaOptions } from './options.js'
import { StatusTracker } from './status-tracker.js'
import { TopicAdmin } from './topic-admin.js'

const { CompressionCodecs, CompressionTypes, Kafka } = kafkajs

/** Kafka's default `message.max.bytes`, used until the broker's own value is read on connect. */
const defaultBrokerLimit = 1_048_588
/** Room kept for the record batch and record headers Kafka adds around a payload. */
const batchOverhead = 256

const compressionTypes = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
} as const

function byteLength(text: string): number {
  return Buffer.byteLength(text, 'utf8')
}

/** Payload, key, id and headers: what counts against the broker's limit for one message. */
function messageBytes(m: OutgoingMessage): number {
  let size = m.payload.byteLength + byteLength(m.id) + SwitchyardHeaders.messageId.length
  if (m.key !== undefined) size += byteLength(m.key)
  for (const name in m.headers) size += byteLength(name) + byteLength(m.headers[name] ?? '')
  return size
}

/**
 * A `Transport` over Apache Kafka. See the package README for the mapping, commit semantics,
 * delay strategy and guarantees.
 *
 * @example
 * const transport = new KafkaTransport({ brokers: ['127.0.0.1:9092'], clientId: 'billing' })
 * await transport.publish([{ topic: 'orders', id, timestamp: Date.now(), headers: {}, payload }])
 */
export class KafkaTransport implements Transport {
  readonly kind = 'kafka'
  /** The raw kafkajs client, as an escape hatch (its admin, producers and consumers are separate). */
  readonly client: KafkaClient
  readonly #options: ResolvedKafkaOptions
  readonly #status = new StatusTracker()
  readonly #admin: Admin
  #producer: Producer
  /** Key of the producer's status reports (the producer object itself is replaced after a failure). */
  readonly #producerStatus = {}
  /** Tail of the chain that hands batches to kafkajs one at a time (see `#send`). */
  #sendTail: Promise<void> = Promise.resolve()
  /** Connection of a producer that replaced a failed one; awaited before its first send. */
  #producerReady: Promise<void> | undefined
  readonly #offsets: GroupOffsetWriter
  readonly #monitorKey = {}
  #monitor: ReturnType<typeof setInterval> | undefined
  #probing = false
  readonly #topicAdmin: TopicAdmin
  readonly #subscriptions = new Set<KafkaSubscription>()
  readonly #stopping = new Set<Promise<void>>()
  readonly #host: SubscriptionHost
  #capabilities: Capabilities
  #connecting: Promise<void> | undefined
  #closing: Promise<void> | undefined
  #closed = false
  #settleClosed = false
  /** Publishes accepted and not yet settled; `close()` waits for them before it disconnects. */
  readonly #publishing = new Set<Promise<void>>()
  /** True once `close()` stopped waiting for publishes and disconnects the producer. */
  #producerClosing = false

  constructor(options: KafkaTransportOptions) {
    this.#options = resolveKafkaOptions(options)
    const o = this.#options
    for (const [name, codec] of Object.entries(options.compressionCodecs ?? {})) {
      const type = compressionTypes[name as keyof typeof compressionTypes]
      if (codec) (CompressionCodecs as Record<number, unknown>)[type] = codec
    }
    this.client = new Kafka({
      brokers: o.brokers,
      clientId: o.clientId,
      ...(o.ssl === undefined ? {} : { ssl: o.ssl }),
      ...(o.sasl === undefined ? {} : { sasl: o.sasl }),
      connectionTimeout: o.connectionTimeoutMs,
      requestTimeout: o.requestTimeoutMs,
      retry: o.retry,
      logLevel: kafkaLogLevel(o.logLevel),
      logCreator: createLogCreator(o.logger),
      ...(o.socketFactory === undefined ? {} : { socketFactory: o.socketFactory }),
    })
    this.#admin = this.client.admin({ retry: o.retry })
    this.#producer = this.#newProducer()
    this.#offsets = new GroupOffsetWriter(this.client, this.#admin)
    this.#topicAdmin = new TopicAdmin({
      admin: this.#admin,
      offsets: this.#offsets,
      options: o,
      connect: () => this.#ensureConnected(),
      mapError: (error, site) => this.#map(error, site),
    })
    this.#capabilities = this.#capabilitiesFor(defaultBrokerLimit)
    this.#host = {
      kafka: this.client,
      options: o,
      status: this.#status,
      settleClosed: () => this.#settleClosed,
      ensureTopic: (topic) => this.#topicAdmin.ensureTopic(topic),
      prepareGroup: (group, topic, fromBeginning) =>
        this.#topicAdmin.commitStartIfNone(group, topic, fromBeginning),
      deleteGroup: async (group) => {
        await this.#admin.deleteGroups([group])
      },
      mapError: (error, site) => this.#map(error, site),
    }
  }

  get capabilities(): Capabilities {
    return this.#capabilities
  }

  get status$(): Observable<TransportStatus> {
    return this.#status.status$
  }

  connect(): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closedError('connect'))
    return this.#ensureConnected()
  }

  /** Connects; also while `close()` flushes publishes accepted before it. */
  #ensureConnected(): Promise<void> {
    if (this.#producerClosing) return Promise.reject(this.#closedError('connect'))
    this.#connecting ??= this.#connect()
    return this.#connecting
  }

  /**
   * Publishes; see the SPI. A publish accepted before `close()` is flushed by it (close waits up to
   * its `timeoutMs`); one still unsettled then rejects with `TransportClosedError`, never silently.
   */
  publish(messages: readonly OutgoingMessage[]): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closedError('publish'))
    const run = this.#publish(messages).catch((error: unknown) => {
      // A send cut short because close() disconnected the producer is reported by name.
      if (this.#producerClosing && (error as { name?: string })?.name !== 'TransportClosedError') {
        throw new TransportClosedError('publish', { cause: error, context: { transport: 'kafka' } })
      }
      throw error
    })
    const tracked = run.catch(() => undefined)
    this.#publishing.add(tracked)
    void tracked.finally(() => this.#publishing.delete(tracked))
    return run
  }

  async #publish(messages: readonly OutgoingMessage[]): Promise<void> {
    if (messages.length === 0) return
    const limit = this.#capabilities.maxMessageBytes ?? defaultBrokerLimit
    const topics = new Set<string>()
    const sizes: number[] = []
    for (const m of messages) {
      validateTopic(m.topic)
      topics.add(m.topic)
      const size = messageBytes(m)
      if (size > limit)
        throw new MessageTooLargeError(m.topic, size, limit, { context: { transport: 'kafka' } })
      sizes.push(size)
    }
    await this.#ensureConnected()
    await Promise.all([...topics].map((t) => this.#topicAdmin.ensureTopic(t)))
    // One sendBatch per chunk; a chunk stays under the broker's record-batch limit even if every
    // message lands on the same partition. Chunks go one after the other, so per-key order holds.
    const budget = limit + batchOverhead
    let chunk = new Map<string, KafkaRecord[]>()
    let chunkBytes = 0
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i] as OutgoingMessage
      const size = (sizes[i] as number) + 70
      if (chunkBytes > 0 && chunkBytes + size > budget) {
        await this.#send(chunk)
        chunk = new Map()
        chunkBytes = 0
      }
      chunkBytes += size
      const record: KafkaRecord = {
        key: m.key ?? null,
        value: Buffer.from(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength),
        headers: { ...m.headers, [SwitchyardHeaders.messageId]: m.id },
        timestamp: String(m.timestamp),
      }
      const list = chunk.get(m.topic)
      if (list) list.push(record)
      else chunk.set(m.topic, [record])
    }
    if (chunkBytes > 0) await this.#send(chunk)
  }

  async provision(topic: string, options: ProvisionOptions = {}): Promise<void> {
    if (this.#closed) throw this.#closedError('provision')
    validateTopic(topic)
    const groups = (options.groups ?? []).map((g) => validateGroup(g))
    await this.connect()
    await this.#topicAdmin.ensureTopic(topic)
    for (const group of groups) {
      try {
        await this.#topicAdmin.commitStartIfNone(group, topic, false)
      } catch (error) {
        throw this.#map(error, { operation: 'provision', topic, group })
      }
    }
  }

  /** Deletes the topic and the given consumer groups (missing ones are skipped). */
  async deprovision(topic: string, options: ProvisionOptions = {}): Promise<void> {
    if (this.#closed) throw this.#closedError('deprovision')
    validateTopic(topic)
    const groups = (options.groups ?? []).map((g) => validateGroup(g))
    await this.connect()
    try {
      await this.#topicAdmin.deleteTopic(topic)
      if (groups.length > 0) await this.#topicAdmin.deleteGroups(groups)
    } catch (error) {
      throw this.#map(error, { operation: 'deprovision', topic })
    }
  }

  subscribe(topic: string, options: SubscribeOptions = {}): Observable<Delivery> {
    return new Observable<Delivery>((subscriber) => {
      if (this.#closed) {
        subscriber.error(this.#closedError('subscribe'))
        return
      }
      let group: string | undefined
      const inFlight = options.inFlight ?? 64
      try {
        validateTopic(topic)
        group = options.group === undefined ? undefined : validateGroup(options.group)
        if (!Number.isInteger(inFlight) || inFlight < 1) {
          throw new ConfigError('subscribe options', [`inFlight must be an integer >= 1, got ${inFlight}`], {
            context: { field: 'inFlight' },
          })
        }
      } catch (error) {
        subscriber.error(error)
        return
      }
      const subscription = new KafkaSubscription(
        this.#host,
        {
          topic,
          group,
          groupId: group ?? `switchyard-ephemeral-${randomUUID()}`,
          inFlight,
          fromBeginning: group === undefined ? false : (options.fromBeginning ?? this.#options.fromBeginning),
          onReady: options.onReady,
        },
        subscriber,
      )
      this.#subscriptions.add(subscription)
      this.connect()
        .catch(() => undefined) // the subscription retries a broker outage itself
        .then(() => subscription.start())
        .catch((error: unknown) => subscriber.error(this.#map(error, { operation: 'subscribe', topic })))
      return () => {
        this.#subscriptions.delete(subscription)
        const stopping = subscription.stop({ drain: false, timeoutMs: 0 })
        this.#stopping.add(stopping)
        void stopping.finally(() => this.#stopping.delete(stopping))
      }
    })
  }

  async health(): Promise<HealthReport> {
    const status = this.#status.current
    const subscriptions: SubscriptionHealth[] = []
    const canAsk = status.state === 'connected' || status.state === 'rebalancing'
    for (const sub of this.#subscriptions) {
      const base = sub.health()
      const lag = canAsk ? await this.#topicAdmin.lag(sub.spec.groupId, sub.spec.topic) : undefined
      subscriptions.push(lag === undefined ? base : { ...base, ...lag })
    }
    const up = status.state === 'connected'
    const degraded = status.state === 'rebalancing' || status.state === 'reconnecting'
    return {
      status: up ? 'up' : degraded ? 'degraded' : 'down',
      kind: this.kind,
      state: status.state,
      subscriptions,
      details: {
        brokers: this.#options.brokers,
        clientId: this.#options.clientId,
        maxMessageBytes: this.#capabilities.maxMessageBytes,
        compression: this.#options.compression,
      },
      ...(status.error === undefined ? {} : { error: status.error.message }),
    }
  }

  close(options: CloseOptions = {}): Promise<void> {
    this.#closing ??= this.#close(options.drain ?? true, options.timeoutMs ?? 10_000)
    return this.#closing
  }

  async #close(drain: boolean, timeoutMs: number): Promise<void> {
    this.#closed = true
    if (!drain) this.#settleClosed = true
    this.#status.base = 'closing'
    const subscriptions = [...this.#subscriptions]
    this.#subscriptions.clear()
    await Promise.all([
      ...subscriptions.map((s) => s.stop({ drain, timeoutMs })),
      this.#flushPublishes(timeoutMs),
    ])
    this.#settleClosed = true
    // A deliberate close ends the streams quietly: they complete, they do not error.
    for (const s of subscriptions) s.end()
    await Promise.all([...this.#stopping])
    await this.#connecting?.catch(() => undefined)
    clearInterval(this.#monitor)
    await Promise.all([
      this.#producer.disconnect().catch(() => undefined),
      this.#admin.disconnect().catch(() => undefined),
      this.#offsets.disconnect(),
    ])
    this.#status.base = 'closed'
  }

  /**
   * Waits up to `timeoutMs` for every publish accepted before `close()`. The ones still pending
   * then fail as the producer disconnects, and reject with `TransportClosedError` (see `publish`).
   */
  async #flushPublishes(timeoutMs: number): Promise<void> {
    if (this.#publishing.size > 0) {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        Promise.all([...this.#publishing]),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, timeoutMs)
        }),
      ])
      clearTimeout(timer)
    }
    this.#producerClosing = true
  }

  async #connect(): Promise<void> {
    this.#status.base = 'connecting'
    try {
      await this.#checkReachable()
      await this.#admin.connect()
      await this.#producer.connect()
      const limit = await this.#topicAdmin.readMessageLimit()
      if (limit !== undefined && limit > batchOverhead) this.#capabilities = this.#capabilitiesFor(limit)
      if (!this.#closed) {
        this.#status.base = 'connected'
        this.#monitor ??= setInterval(() => void this.#checkBroker(), this.#options.healthCheckIntervalMs)
        this.#monitor.unref()
      }
    } catch (error) {
      this.#connecting = undefined
      const mapped = isSwitchyardError(error) ? error : this.#map(error, { operation: 'connect' })
      if (!this.#closed) this.#status.failed(mapped)
      await this.#admin.disconnect().catch(() => undefined)
      await this.#producer.disconnect().catch(() => undefined)
      throw mapped
    }
  }

  /**
   * Fails fast when no broker accepts a TCP connection within `connectionTimeoutMs` (default 3 s):
   * kafkajs would otherwise retry the first connection for its whole retry budget (about a minute
   * by default) without a word. Refused connections are retried every 250 ms until then.
   */
  async #checkReachable(): Promise<void> {
    const { brokers, connectionTimeoutMs } = this.#options
    const deadline = Date.now() + connectionTimeoutMs
    for (;;) {
      const left = deadline - Date.now()
      if (await anyReachable(brokers, Math.max(100, Math.min(1_000, left)))) return
      if (Date.now() + 250 >= deadline || this.#closed) break
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
    throw new BrokerUnavailableError(
      'kafka',
      brokers.join(','),
      `no broker accepted a TCP connection within ${connectionTimeoutMs} ms (connectionTimeoutMs; ` +
        'are the host:port entries of brokers the ones in Kafka’s listeners?)',
      { context: { transport: 'kafka', operation: 'connect' } },
    )
  }

  /**
   * Probes the brokers' ports, so that `status$` shows `reconnecting` during an outage even while
   * nothing is published: kafkajs reports no connection loss of an idle client, and a kafkajs
   * request can stay pending through a whole broker restart, so a plain TCP connect is used.
   */
  async #checkBroker(): Promise<void> {
    if (this.#probing || this.#closed) return
    this.#probing = true
    try {
      const reachable = await anyReachable(this.#options.brokers, 1_000)
      if (this.#closed) return
      if (reachable) this.#status.report(this.#monitorKey, undefined)
      else {
        const error = new BrokerUnavailableError(
          'kafka',
          this.#options.brokers.join(','),
          'no broker accepts connections',
          {
            context: { transport: 'kafka', operation: 'probe' },
          },
        )
        this.#status.report(this.#monitorKey, { state: 'reconnecting', error })
      }
    } finally {
      this.#probing = false
    }
  }

  #capabilitiesFor(brokerLimit: number): Capabilities {
    return Object.freeze({
      orderedByKey: true,
      persistent: true,
      replay: true,
      priority: false,
      patterns: false,
      durableDelay: false,
      maxMessageBytes: brokerLimit - batchOverhead,
    })
  }

  #newProducer(): Producer {
    return this.client.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      retry: this.#options.retry,
    })
  }

  /**
   * Hands one batch at a time to kafkajs, and replaces the producer after a failed send.
   *
   * Why: when a produce request fails with an unknown outcome (the connection dropped after the
   * broker stored the batch, as in a broker restart), kafkajs rolls its idempotence sequence back.
   * The next batch on that producer then reuses the stored batch's sequence numbers, Kafka answers
   * DUPLICATE_SEQUENCE_NUMBER, kafkajs counts that as success, and the next batch is silently lost
   * (seen in the contract's broker-restart scenario: 10 records missing, 10 duplicated). Sending
   * one batch at a time (kafkajs serialises requests per broker anyway) and moving to a new
   * producer id after any failure means a reused sequence can never hide a batch: a retry may
   * duplicate, never lose.
   */
  #send(chunk: Map<string, KafkaRecord[]>): Promise<void> {
    const run = this.#sendTail.then(() => this.#sendNow(chunk))
    this.#sendTail = run.catch(() => undefined)
    return run
  }

  #replaceProducer(): void {
    const poisoned = this.#producer
    const fresh = this.#newProducer()
    this.#producer = fresh
    void poisoned.disconnect().catch(() => undefined)
    const ready = fresh.connect()
    ready.catch(() => undefined)
    this.#producerReady = ready
  }

  async #sendNow(chunk: Map<string, KafkaRecord[]>): Promise<void> {
    const topicMessages: TopicMessages[] = []
    for (const [topic, messages] of chunk) topicMessages.push({ topic, messages })
    for (let attempt = 1; ; attempt++) {
      try {
        if (this.#producerReady !== undefined) {
          // A failed connect is retried by the next replacement; until then send on a fresh one.
          await this.#producerReady
          this.#producerReady = undefined
        }
        await this.#producer.sendBatch({
          topicMessages,
          acks: -1,
          compression: compressionTypes[this.#options.compression],
        })
        this.#status.report(this.#producerStatus, undefined)
        return
      } catch (error) {
        const mapped = this.#map(error, {
          operation: 'publish',
          ...(chunk.size === 1 ? { topic: [...chunk.keys()][0] as string } : {}),
        })
        if (mapped.name === 'BrokerUnavailableError') {
          this.#status.report(this.#producerStatus, { state: 'reconnecting', error: mapped })
        }
        // The batch may have been stored: never send anything else with this producer id.
        if (!this.#producerClosing) this.#replaceProducer()
        // kafkajs fails at once, without its own retries, when it reuses a connection that a
        // broker restart closed; a few quick retries reconnect (a retry may duplicate, never lose).
        if (attempt >= 5 || this.#producerClosing || !isStaleConnection(error)) throw mapped
        await new Promise((resolve) => setTimeout(resolve, 200 * attempt))
      }
    }
  }

  #map(error: unknown, site: Omit<ErrorSite, 'brokers'>): SwitchyardError {
    return mapKafkaError(error, { ...site, brokers: this.#options.brokers })
  }

  #closedError(operation: string): TransportClosedError {
    return new TransportClosedError(operation, { context: { transport: 'kafka' } })
  }
}
