/**
 * `RabbitMqDriver`: RabbitMQ mapped onto core's driver SPI (`TransportDriver`), through amqplib.
 *
 * It wires the broker parts together: `ConnectionManager` (one connection attempt per
 * `connect()`, losses reported as `disconnected`), `Topology` (exchanges and queues, declared
 * again on each connection), `Publisher` (confirm channel) and one `RabbitMqConsumer` per
 * consumer, re-attached after each reconnection. Validation, size checks, in-flight limits,
 * drain, settle-once, per-key hold-back, status and reconnect backoff are the core's
 * (`deriveTransport`); see `packages/core/ADAPTERS.md` and this package's README.
 */
import {
  BrokerUnavailableError,
  type Capabilities,
  CapabilityError,
  type ConsumeSpec,
  type DeliverySink,
  type DriverEvent,
  type DriverFeatures,
  type GroupInfo,
  type Inspection,
  type InspectOptions,
  isSwitchyardError,
  MessageTooLargeError,
  type OutgoingMessage,
  type TransportDriver,
} from '@switchyard/core/spi'
import type { ChannelModel } from 'amqplib'
import type { Observable } from 'rxjs'
import { maxHeaderBytes, messageBytes, publishProperties } from './amqp-message.js'
import { ConnectionManager } from './connection-manager.js'
import { Naming } from './naming.js'
import { queueOptionsFor, type ResolvedOptions } from './options.js'
import { type Outgoing, Publisher } from './publisher.js'
import { type ConsumerContext, RabbitMqConsumer } from './rabbitmq-consumer.js'
import { Topology } from './topology.js'

const kind = 'rabbitmq'

export class RabbitMqDriver implements TransportDriver {
  readonly kind = kind
  readonly capabilities: Capabilities
  /**
   * Key order is the core's (held back inside the one active consumer); delays are the broker's
   * (TTL queues that dead-letter back to the group's queue); `confirmWindows` publish batches go
   * out before the first is confirmed (one channel keeps their order; see `Publisher`).
   */
  readonly features: DriverFeatures
  readonly naming: Naming
  readonly #options: ResolvedOptions
  readonly #connection: ConnectionManager
  readonly #topology: Topology
  readonly #publisher: Publisher
  readonly #consumers = new Set<RabbitMqConsumer>()
  readonly #context: ConsumerContext

  constructor(options: ResolvedOptions) {
    this.#options = options
    this.naming = new Naming(options.prefix)
    this.features = { keyOrder: false, delay: true, publishWindows: options.confirmWindows }
    this.capabilities = {
      orderedByKey: false,
      persistent: true,
      replay: false,
      priority: options.queueDefaults.maxPriority !== undefined,
      patterns: true,
      durableDelay: true,
      maxMessageBytes: options.maxMessageBytes,
    }
    this.#topology = new Topology(options, this.naming)
    this.#connection = new ConnectionManager(options, () => {
      this.#topology.onLost()
      this.#publisher.onLost()
      for (const consumer of this.#consumers) consumer.onLost()
    })
    this.#publisher = new Publisher(options, this.#connection, () => this.#topology.redeclareExchanges())
    this.#context = {
      endpoint: options.endpoint,
      naming: this.naming,
      connection: this.#connection,
      topology: this.#topology,
      publisher: this.#publisher,
      declareGroup: (topic, group, ordered) => this.#declareGroup(topic, group, ordered),
      changed: (_consumer, error) => {
        if (error !== undefined) this.#connection.emit({ type: 'rebalancing', error })
        else this.#rebalanced()
      },
      forget: (consumer) => {
        this.#consumers.delete(consumer)
        // A consumer stopped while its queue was gone no longer holds the status in `rebalancing`.
        if (consumer.lostError !== undefined) this.#rebalanced()
      },
    }
  }

  get events$(): Observable<DriverEvent> {
    return this.#connection.events$
  }

  /** The live amqplib connection (escape hatch), `undefined` while disconnected. */
  get connection(): ChannelModel | undefined {
    return this.#connection.model
  }

  /** One connection attempt; then the topology is declared and every consumer re-attached. */
  async connect(): Promise<void> {
    const model = await this.#connection.open()
    try {
      await this.#topology.onConnected(model)
      await this.#publisher.onConnected(model)
      if (this.#connection.model !== model) {
        // Lost while declaring: the core ignores `disconnected` before a connect resolved.
        throw new BrokerUnavailableError(
          kind,
          this.#options.endpoint,
          'the connection closed while it was set up',
        )
      }
    } catch (error) {
      await this.#connection.discard(model)
      throw error
    }
    this.#connection.ready(model)
    for (const consumer of this.#consumers) void consumer.attach()
  }

  /** amqplib encodes the header table in a 64 KiB buffer, whatever maxMessageBytes says. */
  checkPublish(messages: readonly OutgoingMessage[]): void {
    for (const message of messages) {
      if (!hasLargeHeaders(message)) continue
      const { headers } = messageBytes(message)
      if (headers > maxHeaderBytes) {
        throw new MessageTooLargeError(message.topic, headers, maxHeaderBytes, {
          context: { transport: kind, part: 'headers' },
        })
      }
    }
  }

  /** Writes the batch on the confirm channel and awaits its confirms (headers checked by `checkPublish`). */
  publish(messages: readonly OutgoingMessage[]): Promise<void> {
    const count = messages.length
    const batch: Outgoing[] = new Array(count)
    const { mandatory } = this.#options
    const exchange = this.naming.exchange
    for (let i = 0; i < count; i++) {
      const message = messages[i] as OutgoingMessage
      const payload = message.payload
      batch[i] = {
        exchange,
        routingKey: message.topic,
        content: Buffer.isBuffer(payload)
          ? payload
          : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength),
        properties: publishProperties(message, mandatory),
        topic: message.topic,
      }
    }
    return this.#publisher.publish(batch)
  }

  async provision(topic: string, groups: readonly string[]): Promise<void> {
    await Promise.all(groups.map((group) => this.#declareGroup(topic, group, false)))
  }

  /**
   * Deletes the groups' queues on `topic` (without `groups`: every group queue this driver
   * declared for it) and the `deadLetterGroup` queue of `<topic>.dlq`. The exchanges and delay
   * queues are shared by every topic and are kept.
   */
  async deprovision(topic: string, groups: readonly string[] | undefined): Promise<void> {
    const queues = new Set(
      groups === undefined
        ? this.#topology.groupQueuesOf(topic)
        : groups.map((group) => this.naming.groupQueue(topic, group)),
    )
    const deadLetterGroup = this.#options.deadLetterGroup
    if (deadLetterGroup !== undefined && hasDeadLetterQueue(topic)) {
      queues.add(this.naming.groupQueue(`${topic}.dlq`, deadLetterGroup))
    }
    for (const queue of queues) await this.#topology.deleteGroupQueue(queue)
  }

  consume(topic: string, spec: ConsumeSpec, sink: DeliverySink): RabbitMqConsumer {
    const consumer = new RabbitMqConsumer(this.#context, topic, spec, sink)
    this.#consumers.add(consumer)
    void consumer.attach()
    return consumer
  }

  /**
   * Depth and consumers of the named groups' queues on `topic`. AMQP cannot list queues, so both
   * are required; a group whose queue does not exist is left out.
   */
  async inspect(options: InspectOptions): Promise<Omit<Inspection, 'at'>> {
    const { topic, groups } = options
    if (topic === undefined || groups === undefined) {
      throw new CapabilityError(
        this.kind,
        'listing every topic and group (AMQP cannot list queues: pass `topic` and `groups`)',
      )
    }
    const found: GroupInfo[] = []
    for (const group of groups) {
      const stats = await this.#topology.inspect(this.naming.groupQueue(topic, group))
      if (stats !== undefined) {
        found.push({ group, topic, lag: stats.messageCount, consumers: stats.consumerCount })
      }
    }
    return { topics: [], groups: found, complete: false }
  }

  health(): Readonly<Record<string, unknown>> {
    return {
      ...this.#connection.details(),
      prefix: this.#options.prefix,
      exchange: this.naming.exchange,
      channels: [...this.#consumers].filter((c) => c.attached).length + (this.#publisher.channelOpen ? 1 : 0),
      publishWaiting: this.#publisher.waiting,
      ...lostConsumers(this.#consumers),
    }
  }

  async close(): Promise<void> {
    this.#publisher.close()
    await this.#connection.close()
  }

  /** Back to `connected` once no consumer waits for its queue any more. */
  #rebalanced(): void {
    if (![...this.#consumers].some((c) => c.lostError !== undefined)) {
      this.#connection.emit({ type: 'rebalanced' })
    }
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
    const queue = this.naming.groupQueue(topic, group)
    const declare = (sac: boolean): Promise<void> =>
      this.#topology.groupQueue({
        queue,
        bindingKey: topic,
        options: queueOptionsFor(this.#options, group, sac),
      })
    const deadLetterGroup = this.#options.deadLetterGroup
    const dlq =
      deadLetterGroup !== undefined && hasDeadLetterQueue(topic) && topic.length <= 196
        ? this.#topology.groupQueue({
            queue: this.naming.groupQueue(`${topic}.dlq`, deadLetterGroup),
            bindingKey: `${topic}.dlq`,
            options: queueOptionsFor(this.#options, deadLetterGroup, false),
          })
        : undefined
    const main = async (): Promise<boolean> => {
      try {
        await declare(ordered)
        return false
      } catch (error) {
        const sacMismatch =
          isSwitchyardError(error, 'ConfigError') &&
          /x-single-active-consumer/.test(String((error.cause as Error)?.message))
        if (!sacMismatch) throw error
        await declare(!ordered)
        return ordered
      }
    }
    const [exclusive] = await Promise.all([main(), dlq])
    return { queue, exclusive }
  }
}

/** A plain topic (not a dead-letter topic, not a pattern) gets a dead-letter queue beside its groups. */
function hasDeadLetterQueue(topic: string): boolean {
  return !topic.endsWith('.dlq') && !/[*#]/.test(topic)
}

function hasLargeHeaders(message: OutgoingMessage): boolean {
  let chars = message.key?.length ?? 0
  for (const name in message.headers) chars += name.length + (message.headers[name]?.length ?? 0)
  // UTF-8 takes at most 3 bytes per UTF-16 unit.
  return chars * 3 > maxHeaderBytes - 1024
}

function lostConsumers(consumers: Iterable<RabbitMqConsumer>): { lostConsumer?: string } {
  for (const consumer of consumers) {
    if (consumer.lostError !== undefined) return { lostConsumer: consumer.lostError.message }
  }
  return {}
}
