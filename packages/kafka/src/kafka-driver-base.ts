/**
 * `KafkaDriverBase`: what the two Kafka drivers (`KafkaDriver` on kafkajs, `PlatformaticDriver` on
 * `@platformatic/kafka`) do alike, so that each client's file holds only what differs: its
 * producer (connect, send one request, replace, close), which send failures deserve a quick retry,
 * its error mapping and its consumer.
 *
 * Both drivers reach Kafka alike for everything but producing and consuming: a kafkajs client with
 * an admin client, for topic creation on first use, the start offsets of new groups, deletion and
 * lag (`TopicAdmin`); a TCP probe of the brokers on connect and on a timer, which tells the core
 * when the brokers went away (once per outage); the rebalances of all consumers reported as one.
 * Publishing is chunked under the broker's limit and sent one request at a time, and a failed
 * request moves to a new producer (see `#sendNow`). Validation, size checks, in-flight limits,
 * drain, settle-once, `status$`, reconnect backoff and delays are the derived transport's.
 */

import { randomUUID } from 'node:crypto'
import {
  BrokerUnavailableError,
  type Capabilities,
  type ConsumerHealth,
  type ConsumeSpec,
  type DeliverySink,
  type DriverConsumer,
  type DriverEvent,
  type DriverFeatures,
  type Inspection,
  type InspectOptions,
  MessageTooLargeError,
  type OutgoingMessage,
  type SwitchyardError,
  type TransportDriver,
} from '@switchyard/core/spi'
import kafkajs, { type Admin, type Kafka as KafkaClient } from 'kafkajs'
import { type Observable, Subject } from 'rxjs'
import { anyReachable } from './broker-probe.js'
import type { ErrorSite } from './errors.js'
import { GroupOffsetWriter } from './group-offsets.js'
import { inspectKafka } from './inspect.js'
import type { ConsumerHost, ConsumerSpec } from './kafka-consumer-base.js'
import { createLogCreator, kafkaLogLevel } from './logger.js'
import type { ResolvedKafkaOptions } from './options.js'
import { batchOverhead, brokerLimit, recordBytes } from './record-size.js'
import { checkTls } from './tls-check.js'
import { TopicAdmin } from './topic-admin.js'

/** How a client's errors are read: its mapping, and which failed sends are worth a quick retry. */
export interface ClientErrors {
  map(error: unknown, site: ErrorSite): SwitchyardError
  /** A send that failed this way is retried at once, a few times (the connection was stale). */
  retriesSend(error: unknown): boolean
}

/** A driver consumer that attaches in the background once started. */
export interface StartableConsumer extends DriverConsumer {
  start(): void
}

/** The shared part of a Kafka driver; `Batch` is the client's form of one produce request. */
export abstract class KafkaDriverBase<Batch> implements TransportDriver {
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
  /**
   * A kafkajs client, as an escape hatch: the kafkajs driver's only client, and the one both
   * drivers use for admin work (topics, group offsets, lag).
   */
  readonly client: KafkaClient
  readonly options: ResolvedKafkaOptions
  /** What every consumer of this driver is given. */
  protected readonly consumerHost: ConsumerHost
  readonly #events = new Subject<DriverEvent>()
  readonly #errors: ClientErrors
  readonly #admin: Admin
  readonly #offsets: GroupOffsetWriter
  readonly #topicAdmin: TopicAdmin
  /** Tail of the chain that hands requests to the client one at a time (see `#send`). */
  #sendTail: Promise<void> = Promise.resolve()
  readonly #rebalancing = new Set<object>()
  #connected = false
  #closed = false
  #monitor: ReturnType<typeof setInterval> | undefined
  #probing = false

  constructor(options: ResolvedKafkaOptions, errors: ClientErrors) {
    this.options = options
    this.#errors = errors
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
    this.consumerHost = {
      options: o,
      ensureTopic: (t) => this.#topicAdmin.ensureTopic(t),
      prepareGroup: (group, t, fromBeginning) => this.#topicAdmin.commitStartIfNone(group, t, fromBeginning),
      deleteGroup: (group) => this.#topicAdmin.deleteGroups([group]),
      lag: (group, t) => this.#lag(group, t),
      mapError: (error, site) => this.#map(error, site),
      rebalancing: (source, active) => this.#onRebalancing(source, active),
      disconnected: (error) => this.#disconnected(error),
    }
  }

  /** Connects the producer (or checks that it can reach the cluster). */
  protected abstract connectProducer(): Promise<void>
  /** Closes the producer. Never rejects. */
  protected abstract closeProducer(): Promise<void>
  /** The client's form of these messages as one produce request. */
  protected abstract toBatch(messages: readonly OutgoingMessage[]): Batch
  /** Sends one request on the current producer, acks=-1. */
  protected abstract sendBatch(batch: Batch): Promise<void>
  /** Moves to a new producer (a new producer id): the old one's sequence numbers are spent. */
  protected abstract replaceProducer(): void
  /** The client's consumer of one subscription (not started). */
  protected abstract newConsumer(spec: ConsumerSpec, sink: DeliverySink): StartableConsumer

  /**
   * One attempt: a TCP probe of the brokers (the clients would retry an unreachable first
   * connection for their whole retry budget without a word), then the admin client and the producer.
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
      await this.connectProducer()
    } catch (error) {
      throw this.#map(error, { operation: 'connect' })
    }
    // Closed while this attempt ran: `close()` may have disconnected before these connected.
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

  /**
   * Refuses, before it joins a coalesced batch, a record whose key and id push it past the
   * broker's limit (counted as the chunking in `publish` counts it), so that it fails alone.
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

  /**
   * Sends the batch in requests that stay under the broker's limit even if every record lands on
   * one partition; they go one after the other, so per-key order holds.
   */
  async publish(messages: readonly OutgoingMessage[]): Promise<void> {
    await Promise.all([...new Set(messages.map((m) => m.topic))].map((t) => this.#topicAdmin.ensureTopic(t)))
    let chunk: OutgoingMessage[] = []
    let chunkBytes = 0
    for (const m of messages) {
      const size = recordBytes(m)
      if (chunkBytes > 0 && chunkBytes + size > brokerLimit) {
        await this.#send(chunk)
        chunk = []
        chunkBytes = 0
      }
      chunkBytes += size
      chunk.push(m)
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

  /** One client consumer per subscription; without a group, a unique group deleted on stop. */
  consume(topic: string, spec: ConsumeSpec, sink: DeliverySink): DriverConsumer {
    const consumer = this.newConsumer(
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

  /** Topics and groups with lag per partition (the admin client only, on both clients). */
  async inspect(options: InspectOptions): Promise<Omit<Inspection, 'at'>> {
    try {
      return await inspectKafka(this.#admin, options)
    } catch (error) {
      throw this.#map(error, {
        operation: 'inspect',
        ...(options.topic === undefined ? {} : { topic: options.topic }),
      })
    }
  }

  health(): Readonly<{ [key: string]: unknown }> {
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

  /** Resolves when the requests handed to the client so far have finished (sent or failed). */
  protected sent(): Promise<void> {
    return this.#sendTail
  }

  async #disconnect(): Promise<void> {
    await Promise.all([
      this.closeProducer(),
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
   * kafkajs reports no connection loss of an idle client, and a request can stay pending through a
   * whole broker restart, so a plain TCP connect is used.
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

  /**
   * Hands one request at a time to the client, and moves to a new producer after a failed one.
   *
   * Why: when a produce request fails with an unknown outcome (the connection dropped after the
   * broker stored the batch, as in a broker restart), an idempotent producer that reuses the
   * failed request's sequence numbers for the next batch gets DUPLICATE_SEQUENCE_NUMBER, which the
   * clients count as success, and the next batch is silently lost (kafkajs, seen in the contract's
   * broker-restart scenario: 10 records missing, 10 duplicated). Sending one request at a time
   * (the clients serialise requests per broker anyway) and moving to a new producer id after any
   * failure means a reused sequence can never hide a batch: a retry may duplicate, never lose.
   */
  #send(messages: readonly OutgoingMessage[]): Promise<void> {
    const topics = new Set(messages.map((m) => m.topic))
    const site = { operation: 'publish', ...(topics.size === 1 ? { topic: [...topics][0] as string } : {}) }
    const batch = this.toBatch(messages)
    const run = this.#sendTail.then(() => this.#sendNow(batch, site))
    this.#sendTail = run.catch(() => undefined)
    return run
  }

  async #sendNow(batch: Batch, site: Omit<ErrorSite, 'brokers'>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.sendBatch(batch)
        return
      } catch (error) {
        const mapped = this.#map(error, site)
        if (mapped.name === 'BrokerUnavailableError') this.#disconnected(mapped)
        // The batch may have been stored: never send anything else with this producer id.
        if (!this.#closed) this.replaceProducer()
        // A send on a connection that a broker restart closed fails at once, without the client's
        // own retries; a few quick retries reconnect (a retry may duplicate, never lose).
        if (attempt >= 5 || this.#closed || !this.#errors.retriesSend(error)) throw mapped
        await new Promise((resolve) => setTimeout(resolve, 200 * attempt))
      }
    }
  }

  #map(error: unknown, site: Omit<ErrorSite, 'brokers'>): SwitchyardError {
    return this.#errors.map(error, { ...site, brokers: this.options.brokers })
  }
}
