/**
 * `PlatformaticDriver`: Apache Kafka through `@platformatic/kafka` behind the core's driver SPI
 * (`client: 'platformatic'`).
 *
 * It maps broker primitives and nothing else, like `KafkaDriver`: one idempotent producer
 * (acks=-1) using the Java-compatible murmur2 partitioner, so a key lands on the partition kafkajs
 * and Java clients pick; one `@platformatic/kafka` consumer per subscription
 * (`PlatformaticConsumer`), in the classic or the KIP-848 group protocol. Topic creation, the start
 * offsets of new groups, lag and deletion go through the same `TopicAdmin` as the kafkajs driver
 * (on a kafkajs admin client), so both drivers provision alike. Header keys and values are strings
 * on the wire (the library's default serializers are Buffer-only). Validation, in-flight limits,
 * drain, status, reconnect backoff and delays are the derived transport's.
 */

import { randomUUID } from 'node:crypto'
import type { Producer } from '@platformatic/kafka'
import {
  BrokerUnavailableError,
  type Capabilities,
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
import kafkajs, { type Admin, type Kafka as KafkaClient } from 'kafkajs'
import { type Observable, Subject } from 'rxjs'
import { anyReachable } from './broker-probe.js'
import type { ErrorSite } from './errors.js'
import { GroupOffsetWriter } from './group-offsets.js'
import { createLogCreator, kafkaLogLevel } from './logger.js'
import type { ResolvedKafkaOptions } from './options.js'
import type { PlatformaticKafka } from './platformatic-client.js'
import { PlatformaticConsumer } from './platformatic-consumer.js'
import { isPlatformaticOutage, mapPlatformaticError } from './platformatic-errors.js'
import { batchOverhead, brokerLimit, recordBytes } from './record-size.js'
import { checkTls } from './tls-check.js'
import { TopicAdmin } from './topic-admin.js'

/** Producer of string keys and headers and Buffer values. */
type StringKeyProducer = Producer<string, Buffer, string, string>
type Record = Parameters<StringKeyProducer['send']>[0]['messages'][number]

/** The driver of `KafkaTransport` with `client: 'platformatic'`; see the module header. */
export class PlatformaticDriver implements TransportDriver {
  readonly kind = 'kafka'
  readonly capabilities: Capabilities = Object.freeze({
    orderedByKey: true,
    persistent: true,
    replay: true,
    priority: false,
    patterns: false,
    durableDelay: false,
    maxMessageBytes: brokerLimit - batchOverhead,
  })
  readonly features: DriverFeatures = { keyOrder: true, delay: false }
  readonly events$: Observable<DriverEvent>
  readonly #events = new Subject<DriverEvent>()
  /** A kafkajs client for admin work (topics, group offsets, lag), as an escape hatch. */
  readonly client: KafkaClient
  readonly options: ResolvedKafkaOptions
  readonly lib: PlatformaticKafka
  readonly #admin: Admin
  readonly #topicAdmin: TopicAdmin
  readonly #offsets: GroupOffsetWriter
  #producer: StringKeyProducer
  #sendTail: Promise<void> = Promise.resolve()
  readonly #rebalancing = new Set<object>()
  #connected = false
  #closed = false
  #monitor: ReturnType<typeof setInterval> | undefined
  #probing = false

  constructor(options: ResolvedKafkaOptions, lib: PlatformaticKafka) {
    this.options = options
    this.lib = lib
    this.events$ = this.#events.asObservable()
    const o = options
    this.client = new kafkajs.Kafka({
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
    this.#offsets = new GroupOffsetWriter(this.client, this.#admin)
    this.#topicAdmin = new TopicAdmin({
      admin: this.#admin,
      offsets: this.#offsets,
      options: o,
      mapError: (error, site) => this.#map(error, site),
    })
    this.#producer = this.#newProducer()
  }

  /** Connection options shared by the producer and every consumer. */
  clientOptions(): {
    clientId: string
    bootstrapBrokers: string[]
    connectTimeout: number
    requestTimeout: number
    retries: number
    retryDelay: number
    tls?: object
    sasl?: { mechanism: 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512'; username: string; password: string }
  } {
    const o = this.options
    const sasl = o.sasl as { mechanism: string; username?: string; password?: string } | undefined
    const mechanism = { plain: 'PLAIN', 'scram-sha-256': 'SCRAM-SHA-256', 'scram-sha-512': 'SCRAM-SHA-512' }[
      sasl?.mechanism ?? ''
    ] as 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512' | undefined
    return {
      clientId: o.clientId,
      bootstrapBrokers: o.brokers,
      connectTimeout: o.connectionTimeoutMs,
      requestTimeout: o.requestTimeoutMs,
      retries: o.retry.retries ?? 10,
      retryDelay: o.retry.initialRetryTime ?? 300,
      ...(o.ssl === undefined || o.ssl === false ? {} : { tls: o.ssl === true ? {} : o.ssl }),
      ...(mechanism === undefined
        ? {}
        : { sasl: { mechanism, username: sasl?.username ?? '', password: sasl?.password ?? '' } }),
    }
  }

  /** One attempt: a TCP probe of the brokers, the admin client, then a metadata request. */
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
      await this.#producer.metadata({ topics: [] })
    } catch (error) {
      throw this.#map(error, { operation: 'connect' })
    }
    if (this.#closed) {
      await this.#disconnect()
      return
    }
    this.#connected = true
    if (this.#monitor === undefined) {
      this.#monitor = setInterval(() => void this.#checkBroker(), this.options.healthCheckIntervalMs)
      this.#monitor.unref()
    }
  }

  /** Refuses a record whose key and id push it past the broker's limit, before it joins a batch. */
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

  /** Sends the batch in requests that stay under the broker's limit, one after the other. */
  async publish(messages: readonly OutgoingMessage[]): Promise<void> {
    await Promise.all([...new Set(messages.map((m) => m.topic))].map((t) => this.#topicAdmin.ensureTopic(t)))
    let chunk: Record[] = []
    let chunkBytes = 0
    for (const m of messages) {
      const size = recordBytes(m)
      if (chunkBytes > 0 && chunkBytes + size > brokerLimit) {
        await this.#send(chunk)
        chunk = []
        chunkBytes = 0
      }
      chunkBytes += size
      chunk.push({
        topic: m.topic,
        ...(m.key === undefined ? {} : { key: m.key }),
        value: Buffer.from(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength),
        headers: { ...m.headers, [SwitchyardHeaders.messageId]: m.id },
        timestamp: BigInt(m.timestamp),
      })
    }
    if (chunkBytes > 0) await this.#send(chunk)
  }

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

  async deprovision(topic: string, groups: readonly string[] | undefined): Promise<void> {
    try {
      await this.#topicAdmin.deleteTopic(topic)
      if (groups !== undefined && groups.length > 0) await this.#topicAdmin.deleteGroups(groups)
    } catch (error) {
      throw this.#map(error, { operation: 'deprovision', topic })
    }
  }

  /** One `@platformatic/kafka` consumer per subscription; without a group, a unique group deleted on stop. */
  consume(topic: string, spec: ConsumeSpec, sink: DeliverySink): PlatformaticConsumer {
    const consumer = new PlatformaticConsumer(
      {
        lib: this.lib,
        options: this.options,
        clientOptions: () => this.clientOptions(),
        ensureTopic: (t) => this.#topicAdmin.ensureTopic(t),
        prepareGroup: (group, t, fromBeginning) =>
          this.#topicAdmin.commitStartIfNone(group, t, fromBeginning),
        deleteGroup: (group) => this.#topicAdmin.deleteGroups([group]),
        lag: async (group, t) => (this.#connected ? this.#topicAdmin.lag(group, t) : undefined),
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

  health(): Readonly<{ [key: string]: unknown }> {
    return {
      brokers: this.options.brokers,
      clientId: this.options.clientId,
      client: 'platformatic',
      groupProtocol: this.options.groupProtocol,
      maxMessageBytes: this.capabilities.maxMessageBytes,
      compression: this.options.compression,
    }
  }

  async close(): Promise<void> {
    this.#closed = true
    this.#connected = false
    clearInterval(this.#monitor)
    this.#events.complete()
    await this.#sendTail
    await this.#disconnect()
  }

  async #disconnect(): Promise<void> {
    await Promise.all([
      this.#producer.close().catch(() => undefined),
      this.#admin.disconnect().catch(() => undefined),
      this.#offsets.disconnect(),
    ])
  }

  #newProducer(): StringKeyProducer {
    const { stringSerializer, compatibilityPartitioner, Producer: ProducerClass } = this.lib
    return new ProducerClass<string, Buffer, string, string>({
      ...this.clientOptions(),
      idempotent: true,
      acks: -1,
      autocreateTopics: false,
      compression: this.options.compression,
      partitioner: compatibilityPartitioner,
      serializers: { key: stringSerializer, headerKey: stringSerializer, headerValue: stringSerializer },
    })
  }

  /** One request at a time, so a failure never leaves a later batch with a reused sequence. */
  #send(records: Record[]): Promise<void> {
    const run = this.#sendTail.then(() => this.#sendNow(records))
    this.#sendTail = run.catch(() => undefined)
    return run
  }

  /**
   * Sends one request. After a failure the producer is replaced (a new producer id): the failed
   * request may have been stored, and its sequence numbers must never be reused by the next batch
   * (which Kafka would then drop as a duplicate). A retry may duplicate, never lose.
   */
  async #sendNow(records: Record[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#producer.send({ messages: records })
        return
      } catch (error) {
        const topics = new Set(records.map((r) => r.topic))
        const mapped = this.#map(error, {
          operation: 'publish',
          ...(topics.size === 1 ? { topic: [...topics][0] as string } : {}),
        })
        if (!this.#closed) {
          void this.#producer.close().catch(() => undefined)
          this.#producer = this.#newProducer()
        }
        if (mapped.name === 'BrokerUnavailableError') this.#disconnected(mapped)
        if (attempt >= 5 || this.#closed || !isPlatformaticOutage(error)) throw mapped
        await new Promise((resolve) => setTimeout(resolve, 200 * attempt))
      }
    }
  }

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

  #disconnected(error: SwitchyardError): void {
    if (!this.#connected || this.#closed) return
    this.#connected = false
    this.#rebalancing.clear()
    this.#events.next({ type: 'disconnected', error })
  }

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

  #map(error: unknown, site: Omit<ErrorSite, 'brokers'>): SwitchyardError {
    return mapPlatformaticError(error, { ...site, brokers: this.options.brokers })
  }
}
