/**
 * `NatsDriver`: NATS JetStream mapped onto core's driver SPI (`TransportDriver`), through the
 * `@nats-io` v3 client.
 *
 * One stream per naming prefix captures `<prefix>.>`; a topic is a subject in it, a group a
 * durable pull consumer filtered on the topic's subject, a subscription without a group a private
 * consumer deleted on unsubscribe. Each `connect()` is one connection attempt with the client's
 * own reconnection off: the core retries with its backoff, and the driver re-attaches every
 * consumer on the new connection. Validation, size checks, in-flight limits, drain, settle-once,
 * per-key hold-back, status and backoff are the core's (`deriveTransport`).
 */

import { randomUUID } from 'node:crypto'
import {
  AckPolicy,
  type ConsumerConfig,
  DeliverPolicy,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from '@nats-io/jetstream'
import {
  AuthorizationError,
  connect,
  type NatsConnection,
  type NodeConnectionOptions,
  nanos,
  nkeyAuthenticator,
} from '@nats-io/transport-node'
import {
  AuthenticationError,
  BrokerUnavailableError,
  type Capabilities,
  ConfigError,
  type ConsumeSpec,
  type DeliverySink,
  type DriverEvent,
  type DriverFeatures,
  type Inspection,
  type InspectOptions,
  type OutgoingMessage,
  PublishError,
  type TransportDriver,
} from '@switchyard/core/spi'
import { type Observable, Subject } from 'rxjs'
import { inspectNats } from './inspect.js'
import { type ConsumerContext, NatsConsumer } from './nats-consumer.js'
import { describeTopic, durableName, filterOf, subjectOf, toNatsHeaders } from './nats-message.js'
import type { ResolvedNatsOptions } from './options.js'
import { tlsConnectError } from './tls-check.js'

const kind = 'nats'
const consumerNotFound = 10014
const streamNotFound = 10059
/** A private consumer left behind by a crashed process is deleted by the server after this. */
const privateInactiveMs = 60_000

/** The live connection and its JetStream clients. */
interface Session {
  readonly nc: NatsConnection
  readonly js: JetStreamClient
  readonly jsm: JetStreamManager
}

export class NatsDriver implements TransportDriver {
  readonly kind = kind
  readonly capabilities: Capabilities
  /** Key order is the core's (held back per subscription); delays are the server's (`nak(delay)`). */
  readonly features: DriverFeatures = { keyOrder: false, delay: true }
  readonly #options: ResolvedNatsOptions
  readonly #events = new Subject<DriverEvent>()
  readonly #consumers = new Set<NatsConsumer>()
  readonly #context: ConsumerContext
  #session: Session | undefined
  #closing = false
  /** Settles queued for the end of this event-loop turn (see `ConsumerContext.settle`). */
  #settles: (() => void)[] = []
  #settleTurn: NodeJS.Immediate | undefined

  constructor(options: ResolvedNatsOptions) {
    this.#options = options
    this.capabilities = {
      orderedByKey: false,
      persistent: options.storage === 'file',
      replay: true,
      priority: false,
      patterns: true,
      durableDelay: options.storage === 'file',
      maxMessageBytes: options.maxMessageBytes,
    }
    this.#context = {
      prefix: options.prefix,
      jetstream: () => this.#session?.js,
      ensureConsumer: (topic, name, spec, ephemeral) => this.#ensureConsumer(topic, name, spec, ephemeral),
      deleteConsumer: async (name) => {
        await this.#session?.jsm.consumers.delete(options.prefix, name).catch(() => false)
      },
      settle: (action) => {
        this.#settles.push(action)
        this.#settleTurn ??= setImmediate(() => this.#sendSettles())
      },
      flush: async () => {
        this.#sendSettles()
        await this.#session?.nc.flush().catch(() => {})
      },
      failed: (error) =>
        this.#events.next({
          type: 'rebalancing',
          error: this.#unavailable('a consumer could not attach', error),
        }),
      recovered: () => this.#events.next({ type: 'rebalanced' }),
      forget: (consumer) => this.#consumers.delete(consumer),
    }
  }

  get events$(): Observable<DriverEvent> {
    return this.#events
  }

  /** The live NATS connection (escape hatch), `undefined` while disconnected. */
  get connection(): NatsConnection | undefined {
    return this.#session?.nc
  }

  /** One connection attempt; then the stream is ensured and every consumer re-attached. */
  async connect(): Promise<void> {
    const o = this.#options
    let nc: NatsConnection
    try {
      nc = await connect({
        servers: [...o.servers],
        name: o.name,
        ...(o.user === undefined ? {} : { user: o.user }),
        ...(o.password === undefined ? {} : { pass: o.password }),
        ...(o.token === undefined ? {} : { token: o.token }),
        ...(o.nkeySeed === undefined
          ? {}
          : { authenticator: nkeyAuthenticator(new TextEncoder().encode(o.nkeySeed)) }),
        // Node's TLS options pass through (the client merges them into `tls.connect`).
        ...(o.tls === undefined ? {} : { tls: o.tls as NonNullable<NodeConnectionOptions['tls']> }),
        timeout: o.connectTimeoutMs,
        reconnect: false,
        pingInterval: 10_000,
        maxPingOut: 3,
      })
    } catch (error) {
      if (error instanceof AuthorizationError)
        throw new AuthenticationError(kind, error.message, { cause: error })
      throw (await tlsConnectError(error, o)) ?? this.#unavailable('could not connect', error)
    }
    try {
      const jsm = await jetstreamManager(nc, { timeout: o.connectTimeoutMs })
      await this.#ensureStream(jsm)
      this.#session = { nc, jsm, js: jetstream(nc, { timeout: o.connectTimeoutMs }) }
    } catch (error) {
      await nc.close().catch(() => {})
      if (error instanceof ConfigError) throw error
      throw this.#unavailable('JetStream did not answer (is the server started with -js?)', error)
    }
    void nc.closed().then((error) => {
      if (this.#session?.nc !== nc) return
      this.#session = undefined
      for (const consumer of this.#consumers) consumer.onLost()
      if (!this.#closing) {
        this.#events.next({ type: 'disconnected', error: this.#unavailable('the connection closed', error) })
      }
    })
    for (const consumer of this.#consumers) void consumer.attach()
  }

  /** Publishes every message (pipelined) and resolves once JetStream stored each one. */
  async publish(messages: readonly OutgoingMessage[]): Promise<void> {
    const session = this.#session
    if (session === undefined) throw this.#unavailable('not connected', undefined)
    const prefix = this.#options.prefix
    const acks = new Array<Promise<unknown>>(messages.length)
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i] as OutgoingMessage
      acks[i] = session.js.publish(subjectOf(prefix, m.topic), m.payload, { headers: toNatsHeaders(m) })
    }
    const results = await Promise.allSettled(acks)
    for (let i = 0; i < results.length; i++) {
      const result = results[i] as PromiseSettledResult<unknown>
      if (result.status === 'rejected') {
        const error = result.reason as Error
        if (session.nc.isClosed() || /timeout|no responders|closed|disconnect/i.test(error.message)) {
          throw this.#unavailable('a publish was not acknowledged', error)
        }
        throw new PublishError((messages[i] as OutgoingMessage).topic, error.message, { cause: error })
      }
    }
  }

  async provision(topic: string, groups: readonly string[]): Promise<void> {
    const spec: ConsumeSpec = { group: undefined, prefetch: 1, ordered: false, fromBeginning: false }
    await Promise.all(
      groups.map((group) => this.#ensureConsumer(topic, durableName(topic, group), spec, false)),
    )
  }

  /** Deletes the groups' durable consumers; without `groups`, every consumer of the topic and its messages. */
  async deprovision(topic: string, groups: readonly string[] | undefined): Promise<void> {
    const { jsm } = this.#connected()
    const stream = this.#options.prefix
    const subject = filterOf(stream, topic).subject
    const names = new Set<string>()
    if (groups === undefined) {
      for await (const info of jsm.consumers.list(stream)) {
        if (info.config.description === describeTopic(topic)) names.add(info.name)
      }
      if (!/[*#]/.test(topic)) await jsm.streams.purge(stream, { filter: subject }).catch(ignoreMissing)
    } else {
      for (const group of groups) names.add(durableName(topic, group))
    }
    for (const name of names) await jsm.consumers.delete(stream, name).catch(ignoreMissing)
  }

  consume(topic: string, spec: ConsumeSpec, sink: DeliverySink): NatsConsumer {
    const name =
      spec.group === undefined ? `sub_${randomUUID().replaceAll('-', '')}` : durableName(topic, spec.group)
    const consumer = new NatsConsumer(this.#context, topic, spec, sink, name)
    this.#consumers.add(consumer)
    void consumer.attach()
    return consumer
  }

  /** The stream's topics and the groups' durable consumers (see `inspect.ts`). */
  inspect(options: InspectOptions): Promise<Omit<Inspection, 'at'>> {
    return inspectNats(this.#connected().jsm, this.#options.prefix, options)
  }

  async health(): Promise<Readonly<Record<string, unknown>>> {
    const session = this.#session
    const base = {
      endpoint: this.#options.endpoint,
      stream: this.#options.prefix,
      consumers: this.#consumers.size,
    }
    if (session === undefined) return base
    try {
      const info = await session.jsm.streams.info(this.#options.prefix)
      return {
        ...base,
        server: session.nc.info?.version,
        messages: info.state.messages,
        bytes: info.state.bytes,
        storage: info.config.storage,
      }
    } catch {
      return { ...base, server: session.nc.info?.version }
    }
  }

  /** Sends the queued settles; one whose connection is gone is dropped (the server redelivers). */
  #sendSettles(): void {
    if (this.#settleTurn !== undefined) clearImmediate(this.#settleTurn)
    this.#settleTurn = undefined
    const settles = this.#settles
    this.#settles = []
    for (const settle of settles) {
      try {
        settle()
      } catch {
        // The connection closed: nothing to settle on; the server delivers the message again.
      }
    }
  }

  async close(): Promise<void> {
    this.#closing = true
    this.#sendSettles()
    const session = this.#session
    this.#session = undefined
    if (session !== undefined) {
      await session.nc.flush().catch(() => {})
      await session.nc.close().catch(() => {})
    }
    this.#events.complete()
  }

  #connected(): Session {
    const session = this.#session
    if (session === undefined) throw this.#unavailable('not connected', undefined)
    return session
  }

  #unavailable(detail: string, cause: unknown): BrokerUnavailableError {
    const why = cause instanceof Error ? `${detail} (${cause.message})` : detail
    return new BrokerUnavailableError(kind, this.#options.endpoint, why, { cause })
  }

  /** Creates the prefix's stream when missing; an existing one is used as it is. */
  async #ensureStream(jsm: JetStreamManager): Promise<void> {
    const o = this.#options
    try {
      await jsm.streams.info(o.prefix)
      return
    } catch (error) {
      if (!isApiError(error, streamNotFound)) throw error
    }
    try {
      await jsm.streams.add({
        name: o.prefix,
        subjects: [`${o.prefix}.>`],
        retention: RetentionPolicy.Limits,
        storage: o.storage === 'file' ? StorageType.File : StorageType.Memory,
        num_replicas: o.replicas,
        max_age: nanos(o.maxAgeMs),
        max_bytes: o.maxBytes,
      })
    } catch (error) {
      if (error instanceof JetStreamApiError && /overlap/i.test(error.message)) {
        throw new ConfigError('NATS transport options', [
          `prefix: subjects ${o.prefix}.> overlap another stream; pick another prefix (${error.message})`,
        ])
      }
      if (!(error instanceof JetStreamApiError && /already in use/i.test(error.message))) throw error
    }
  }

  /**
   * Creates the consumer when missing: explicit acks, filtered on the topic's subject, starting at
   * new messages (or the oldest retained with `fromBeginning`). `ordered` sets `max_ack_pending`
   * to 1, on an existing consumer too: one unsettled message at a time in the whole group.
   */
  async #ensureConsumer(topic: string, name: string, spec: ConsumeSpec, ephemeral: boolean): Promise<void> {
    const { jsm } = this.#connected()
    const stream = this.#options.prefix
    const maxAckPending = spec.ordered ? 1 : this.#options.maxAckPending
    try {
      const info = await jsm.consumers.info(stream, name)
      if (spec.ordered && info.config.max_ack_pending !== 1) {
        await jsm.consumers.update(stream, name, { max_ack_pending: 1 })
      }
      return
    } catch (error) {
      if (!isApiError(error, consumerNotFound)) throw error
    }
    const config: Partial<ConsumerConfig> = {
      durable_name: name,
      description: describeTopic(topic),
      ack_policy: AckPolicy.Explicit,
      deliver_policy: spec.fromBeginning ? DeliverPolicy.All : DeliverPolicy.New,
      filter_subject: filterOf(stream, topic).subject,
      max_ack_pending: maxAckPending,
      ack_wait: nanos(this.#options.ackWaitMs),
    }
    if (ephemeral) config.inactive_threshold = nanos(privateInactiveMs)
    try {
      await jsm.consumers.add(stream, config)
    } catch (error) {
      // Created meanwhile by another transport of the group: use it.
      if (!(error instanceof JetStreamApiError && /already exists|already in use/i.test(error.message)))
        throw error
    }
  }
}

function isApiError(error: unknown, code: number): boolean {
  return error instanceof JetStreamApiError && error.code === code
}

function ignoreMissing(error: unknown): void {
  if (!isApiError(error, consumerNotFound) && !isApiError(error, streamNotFound)) throw error
}
