/**
 * `KafkaDriver`: Apache Kafka (kafkajs) behind the core's driver SPI.
 *
 * It maps broker primitives and nothing else: one kafkajs client with an admin client and one
 * idempotent producer (acks=-1), topic creation on first use and group offsets for new groups
 * (`TopicAdmin`), deprovisioning, one kafkajs consumer per subscription (`KafkaConsumer`), lag for
 * `health()`, and a TCP probe that tells the core when the brokers went away. Validation, size
 * checks, in-flight limits, drain, settle-once, `status$`, reconnect backoff, the connect timeout
 * and delayed redelivery are the derived transport's (`deriveTransport` in `@switchyard/core/spi`).
 * Per-key order is native (`features.keyOrder`): a partition's records are held back per key
 * because that hold-back is tied to committing offsets in contiguous order.
 */

import { randomUUID } from 'node:crypto'
import {
  BrokerUnavailableError,
  type Capabilities,
  type ConsumerHealth,
  type ConsumeSpec,
  type DeliverySink,
  type DriverEvent,
  type DriverFeatures,
  MessageTooLargeError,
  type OutgoingMessage,
  type SwitchyardError,
  SwitchyardHeaders,
  type TransportDriver,
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
import { type Observable, Subject } from 'rxjs'
import { anyReachable } from './broker-probe.js'
import { type ErrorSite, isStaleConnection, mapKafkaError } from './errors.js'
import { GroupOffsetWriter } from './group-offsets.js'
import { KafkaConsumer } from './kafka-consumer.js'
import { createLogCreator, kafkaLogLevel } from './logger.js'
import type { KafkaTransportOptions, ResolvedKafkaOptions } from './options.js'
import { batchOverhead, brokerLimit, recordBytes } from './record-size.js'
import { checkTls } from './tls-check.js'
import { TopicAdmin } from './topic-admin.js'

const { CompressionCodecs, CompressionTypes, Kafka } = kafkajs

const compressionTypes = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
} as const

/** The driver of {@link KafkaTransport}; see the module header. */
export class KafkaDriver implements TransportDriver {
  readonly kind = 'kafka'
  readonly capabilities: Capabilities = Object.freeze({
    orderedByKey: true,
    persistent: true,
    replay: true,
    priority: false,
    patterns: false,
    durableDelay: false,
    // The core checks payload and headers against this; `checkPublish` refuses a record whose key
    // and id push it past the broker's own limit (MESSAGE_TOO_LARGE otherwise).
    maxMessageBytes: brokerLimit - batchOverhead,
  })
  /** Key order is kept per partition here (tied to commits); delays are held by the core. */
  readonly features: DriverFeatures = { keyOrder: true, delay: false }
  readonly events$: Observable<DriverEvent>
  readonly #events = new Subject<DriverEvent>()
  /** The raw kafkajs client, as an escape hatch. */
  readonly client: KafkaClient
  readonly options: ResolvedKafkaOptions
  readonly #admin: Admin
  #producer: Producer
  /** Tail of the chain that hands batches to kafkajs one at a time (see `#send`). */
  #sendTail: Promise<void> = Promise.resolve()
  /** Connection of a producer that replaced a failed one; awaited before its first send. */
  #producerReady: Promise<void> | undefined
  readonly #offsets: GroupOffsetWriter
  readonly #topicAdmin: TopicAdmin
  readonly #rebalancing = new Set<object>()
  #connected = false
  #closed = false
  #monitor: ReturnType<typeof setInterval> | undefined
  #probing = false

  constructor(options: ResolvedKafkaOptions, codecs: KafkaTransportOptions['compressionCodecs']) {
    this.options = options
    this.events$ = this.#events.asObservable()
    const o = options
    for (const [name, codec] of Object.entries(codecs ?? {})) {
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
      mapError: (error, site) => this.#map(error, site),
    })
  }

  /**
   * One attempt: a TCP probe of the brokers (kafkajs would retry an unreachable first connection
   * for its whole retry budget without a word), then the admin client and the producer.
   */
  async connect(): Promise<void> {
    const { brokers, connectionTimeoutMs } = this.options
    if (!(await anyReachable(brokers, connectionTimeoutMs))) {
      throw new BrokerUnavailableError(
        'kafka',
        brokers.join(','),
        `no broker accepted a TCP connection within ${connectionTimeoutMs} ms (connectionTimeoutMs; ` +
          'are the host:port entries of brokers the ones in Kafka’s listeners?)',
        { context: { transport: 'kafka', operation: 'connect' } },
      )
    }
    await checkTls(this.options)
    try {
      await this.#admin.connect()
      await this.#producer.connect()
    } catch (error) {
      throw this.#map(error, { operation: 'connect' })
    }
    // Closed while this attempt ran: `close()` may have disconnected before these connected.
    if (this.#closed) {
      await this.#disconnect()
      return
    }
    this.#connected = true
    if (this.#monitor === undefined && !this.#closed) {
      this.#monitor = setInterval(() => void this.#checkBroker(), this.options.healthCheckIntervalMs)
      this.#monitor.unref()
    }
  }

  /**
   * Sends the batch in record batches that stay under the broker's limit even if every record
   * lands on one partition; they go one after the other, so per-key order holds.
   */
  /**
   * Refuses, before it joins a coalesced batch, a record whose key and id push it past the
   * broker's limit (counted as the chunking below counts it), so that it fails alone.
   */
  checkPublish(messages: readonly OutgoingMessage[]): void {
    for (const m of messages) {
      const size = recordBytes(m)
      if (size > brokerLimit) {
        throw new MessageTooLargeError(m.topic, size, brokerLimit, {
          context: { transport: 'kafka', part: 'record' },
        })
      }
    }
  }

  async publish(messages: readonly OutgoingMessage[]): Promise<void> {
    await Promise.all([...new Set(messages.map((m) => m.topic))].map((t) => this.#topicAdmin.ensureTopic(t)))
    const budget = brokerLimit
    let chunk = new Map<string, KafkaRecord[]>()
    let chunkBytes = 0
    for (const m of messages) {
      const size = recordBytes(m)
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

  /** Creates the topic (unless it exists) and gives new groups committed offsets at its end. */
  async provision(topic: string, groups: readonly string[]): Promise<void> {
    await this.#topicAdmin.ensureTopic(topic)
    for (const group of groups) {
      try {
        await this.#topicAdmin.commitStartIfNone(group, topic, false)
      } catch (error) {
        throw this.#map(error, { operation: 'provision', topic, group })
      }
    }
  }

  /** Deletes the topic (with its records) and the given consumer groups; missing ones are skipped. */
  async deprovision(topic: string, groups: readonly string[] | undefined): Promise<void> {
    try {
      await this.#topicAdmin.deleteTopic(topic)
      if (groups !== undefined && groups.length > 0) await this.#topicAdmin.deleteGroups(groups)
    } catch (error) {
      throw this.#map(error, { operation: 'deprovision', topic })
    }
  }

  /** One kafkajs consumer per subscription; without a group, a unique group deleted on stop. */
  consume(topic: string, spec: ConsumeSpec, sink: DeliverySink): KafkaConsumer {
    const consumer = new KafkaConsumer(
      {
        kafka: this.client,
        options: this.options,
        ensureTopic: (t) => this.#topicAdmin.ensureTopic(t),
        prepareGroup: (group, t, fromBeginning) =>
          this.#topicAdmin.commitStartIfNone(group, t, fromBeginning),
        deleteGroup: (group) => this.#topicAdmin.deleteGroups([group]),
        lag: (group, t) => this.#lag(group, t),
        mapError: (error, site) => this.#map(error, site),
        rebalancing: (source, active) => this.#onRebalancing(source, active),
        disconnected: (error) => this.#disconnected(error),
      },
      {
        topic,
        groupId: spec.group ?? `switchyard-ephemeral-${randomUUID()}`,
        ephemeral: spec.group === undefined,
        fromBeginning: spec.group !== undefined && spec.fromBeginning,
        prefetch: spec.prefetch,
      },
      sink,
    )
    consumer.start()
    return consumer
  }

  health(): Readonly<Record<string, unknown>> {
    return {
      brokers: this.options.brokers,
      clientId: this.options.clientId,
      maxMessageBytes: this.capabilities.maxMessageBytes,
      compression: this.options.compression,
    }
  }

  /** Disconnects the producer, the admin client and the offset writer. Never rejects. */
  async close(): Promise<void> {
    this.#closed = true
    this.#connected = false
    clearInterval(this.#monitor)
    this.#events.complete()
    await this.#disconnect()
  }

  async #disconnect(): Promise<void> {
    await Promise.all([
      this.#producer.disconnect().catch(() => undefined),
      this.#admin.disconnect().catch(() => undefined),
      this.#offsets.disconnect(),
    ])
  }

  async #lag(group: string, topic: string): Promise<ConsumerHealth | undefined> {
    return this.#connected ? this.#topicAdmin.lag(group, topic) : undefined
  }

  /** Rebalances of all consumers reported as one: `rebalancing` while any is, `rebalanced` after the last. */
  #onRebalancing(source: object, active: boolean): void {
    if (this.#closed) return
    if (active) {
      const first = this.#rebalancing.size === 0
      this.#rebalancing.add(source)
      if (first) this.#events.next({ type: 'rebalancing' })
    } else if (this.#rebalancing.delete(source) && this.#rebalancing.size === 0) {
      this.#events.next({ type: 'rebalanced' })
    }
  }

  /** Tells the core the connection is gone (once per outage); it calls `connect()` again. */
  #disconnected(error: SwitchyardError): void {
    if (!this.#connected || this.#closed) return
    this.#connected = false
    this.#rebalancing.clear()
    this.#events.next({ type: 'disconnected', error })
  }

  /**
   * Probes the brokers' ports, so that an outage is reported even while nothing is published:
   * kafkajs reports no connection loss of an idle client, and a kafkajs request can stay pending
   * through a whole broker restart, so a plain TCP connect is used.
   */
  async #checkBroker(): Promise<void> {
    if (this.#probing || !this.#connected) return
    this.#probing = true
    try {
      if (await anyReachable(this.options.brokers, 1_000)) return
      this.#disconnected(
        new BrokerUnavailableError('kafka', this.options.brokers.join(','), 'no broker accepts connections', {
          context: { transport: 'kafka', operation: 'probe' },
        }),
      )
    } finally {
      this.#probing = false
    }
  }

  #newProducer(): Producer {
    return this.client.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      retry: this.options.retry,
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
          compression: compressionTypes[this.options.compression],
        })
        return
      } catch (error) {
        const mapped = this.#map(error, {
          operation: 'publish',
          ...(chunk.size === 1 ? { topic: [...chunk.keys()][0] as string } : {}),
        })
        if (mapped.name === 'BrokerUnavailableError') this.#disconnected(mapped)
        // The batch may have been stored: never send anything else with this producer id.
        if (!this.#closed) this.#replaceProducer()
        // kafkajs fails at once, without its own retries, when it reuses a connection that a
        // broker restart closed; a few quick retries reconnect (a retry may duplicate, never lose).
        if (attempt >= 5 || this.#closed || !isStaleConnection(error)) throw mapped
        await new Promise((resolve) => setTimeout(resolve, 200 * attempt))
      }
    }
  }

  #map(error: unknown, site: Omit<ErrorSite, 'brokers'>): SwitchyardError {
    return mapKafkaError(error, { ...site, brokers: this.options.brokers })
  }
}
