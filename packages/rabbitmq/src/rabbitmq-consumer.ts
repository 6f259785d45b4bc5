/**
 * `RabbitMqConsumer`: one driver consumer — one AMQP consumer on a channel of its own.
 *
 * It declares its queue (the group's durable queue, or an exclusive auto-delete one without a
 * group), sets `basic.qos` to the core's prefetch window, consumes with manual acks and hands
 * each message to the core's sink as a raw delivery. `requeue` republishes a copy with the next
 * attempt number to the same queue, `delay` to the TTL queue of its bucket (which dead-letters
 * back to this queue only); the original is acked once the copy is confirmed. It re-attaches by
 * itself when the broker cancels it (queue deleted: declared again) or closes its channel, and
 * when the driver reconnects. Settling a delivery of a channel that is gone does nothing: the
 * broker delivers it again. Counting, pausing, draining and settle-once are the core's.
 */
import {
  BrokerUnavailableError,
  type ConsumerHealth,
  type ConsumeSpec,
  type DeliverySink,
  type DriverConsumer,
  isSwitchyardError,
  type Message,
  type RawDelivery,
  type Settled,
  type SwitchyardError,
} from '@switchyard/core/spi'
import type { Channel, ConsumeMessage } from 'amqplib'
import { republishProperties, toMessage } from './amqp-message.js'
import type { ConnectionManager } from './connection-manager.js'
import { delayBucket, delayBucketHeader, type Naming } from './naming.js'
import type { Publisher } from './publisher.js'
import type { Topology } from './topology.js'

/** What a consumer needs from its driver. */
export interface ConsumerContext {
  readonly endpoint: string
  readonly naming: Naming
  readonly connection: ConnectionManager
  readonly topology: Topology
  readonly publisher: Publisher
  /** Declares the group's queue (and its dead-letter queue); says whether to consume exclusively. */
  declareGroup(topic: string, group: string, ordered: boolean): Promise<{ queue: string; exclusive: boolean }>
  /** The broker cancelled this consumer (`error` says why), or it is attached again (`undefined`). */
  changed(consumer: RabbitMqConsumer, error: SwitchyardError | undefined): void
  /** The consumer stopped for good. */
  forget(consumer: RabbitMqConsumer): void
}

/** A message as delivered on one channel; settles on that channel only while it is the live one. */
class AmqpDelivery implements RawDelivery {
  constructor(
    readonly owner: RabbitMqConsumer,
    readonly channel: Channel,
    readonly raw: ConsumeMessage,
    readonly message: Message,
  ) {}

  ack(): Settled {
    this.owner.send(this, (ch) => ch.ack(this.raw))
    return undefined
  }

  reject(): Settled {
    this.owner.send(this, (ch) => ch.reject(this.raw, false))
    return undefined
  }

  requeue(): Settled {
    return this.owner.republish(this, undefined)
  }

  delay(ms: number): Settled {
    return this.owner.republish(this, ms)
  }
}

export class RabbitMqConsumer implements DriverConsumer {
  readonly topic: string
  readonly spec: ConsumeSpec
  readonly #context: ConsumerContext
  readonly #sink: DeliverySink
  #queue: string | undefined
  #channel: Channel | undefined
  #consumerTag: string | undefined
  #stopped = false
  #readyCalled = false
  #attaching: Promise<void> | undefined
  #retry: NodeJS.Timeout | undefined
  #failures = 0
  #exclusive = false
  /** Why the consumer is not attached while the connection is up (the broker cancelled it). */
  lostError: SwitchyardError | undefined

  constructor(context: ConsumerContext, topic: string, spec: ConsumeSpec, sink: DeliverySink) {
    this.#context = context
    this.topic = topic
    this.spec = spec
    this.#sink = sink
  }

  get attached(): boolean {
    return this.#channel !== undefined && this.#consumerTag !== undefined
  }

  /** Declares the queue and starts consuming; a no-op while attached, attaching or disconnected. */
  attach(): Promise<void> {
    if (this.#stopped || this.attached) return Promise.resolve()
    // An attempt on an older connection may fail after this one is up: try again after it.
    if (this.#attaching) return this.#attaching.then(() => this.attach())
    const model = this.#context.connection.usable
    if (!model) return Promise.resolve()
    clearTimeout(this.#retry)
    this.#retry = undefined
    const attaching = this.#attach(model).finally(() => {
      this.#attaching = undefined
    })
    this.#attaching = attaching
    return attaching
  }

  /** Nothing to do: `basic.qos` is the core's window, so the broker stops sending at the limit. */
  pause(): void {}

  resume(): void {}

  /**
   * Closes the channel: unsettled messages go back to the queue. Resolves once the broker
   * confirmed the close, so acks sent before it (the core awaited them) have been applied.
   */
  async stop(): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#retry)
    await this.#attaching
    const ch = this.#channel
    this.#channel = undefined
    this.#consumerTag = undefined
    this.#context.forget(this)
    if (ch) await ch.close().catch(() => undefined)
  }

  /** The connection is gone: forget the channel (its deliveries settle as no-ops). */
  onLost(): void {
    clearTimeout(this.#retry)
    this.#retry = undefined
    this.#channel = undefined
    this.#consumerTag = undefined
    this.lostError = undefined
  }

  /** Queue depth (`lag`) and consumer count of the consumer's queue. */
  async health(): Promise<ConsumerHealth> {
    const queue = this.#queue
    if (queue === undefined) return {}
    const stats = await withTimeout(this.#context.topology.inspect(queue), 2_000)
    return stats ? { lag: stats.messageCount, consumers: stats.consumerCount } : {}
  }

  /** Sends a settlement on the delivery's channel if it is still the live one; else a no-op. */
  send(delivery: AmqpDelivery, settle: (ch: Channel) => void): void {
    if (this.#channel !== delivery.channel) return
    try {
      settle(delivery.channel)
    } catch {
      // the channel closed meanwhile: the broker delivers the message again
    }
  }

  /** `requeue` (no `delayMs`) or `delay`: a confirmed copy with `attempt + 1`, then ack the original. */
  async republish(delivery: AmqpDelivery, delayMs: number | undefined): Promise<void> {
    const queue = this.#queue
    if (this.#channel !== delivery.channel || queue === undefined) return
    const { raw, message } = delivery
    const { naming, publisher, topology } = this.#context
    try {
      let exchange = ''
      let extra: Record<string, string> | undefined
      if (delayMs !== undefined) {
        const bucket = delayBucket(delayMs)
        await topology.delayQueue(bucket)
        exchange = naming.delayExchange
        extra = { [delayBucketHeader]: String(bucket) }
      }
      const properties = republishProperties(raw, message, extra)
      properties.mandatory = true
      await publisher.publish([
        { exchange, routingKey: queue, content: raw.content, properties, topic: message.topic },
      ])
      this.send(delivery, (ch) => ch.ack(raw))
    } catch {
      // The copy may not be stored: give the original back instead (redelivered, attempt + 1).
      this.send(delivery, (ch) => ch.nack(raw, false, true))
    }
  }

  async #attach(model: NonNullable<ConnectionManager['usable']>): Promise<void> {
    let channel: Channel | undefined
    try {
      const { group, ordered, prefetch } = this.spec
      let exclusive = false
      if (group !== undefined) {
        const declared = await this.#context.declareGroup(this.topic, group, ordered)
        this.#queue = declared.queue
        exclusive = declared.exclusive
      }
      this.#exclusive = exclusive
      channel = await model.createChannel()
      const ch = channel
      ch.on('error', () => {
        // 'close' follows
      })
      ch.on('close', () => this.#channelClosed(ch))
      await ch.prefetch(prefetch)
      if (group === undefined) {
        const declared = await ch.assertQueue('', { exclusive: true, autoDelete: true, durable: false })
        await ch.bindQueue(declared.queue, this.#context.naming.exchange, this.topic)
        this.#queue = declared.queue
      }
      this.#channel = ch
      const { consumerTag } = await ch.consume(this.#queue as string, (raw) => this.#deliver(ch, raw), {
        noAck: false,
        exclusive,
      })
      if (this.#stopped || this.#channel !== ch) {
        if (this.#channel === ch) this.#channel = undefined
        await ch.close().catch(() => undefined)
        return
      }
      this.#consumerTag = consumerTag
      this.#failures = 0
      if (this.lostError) {
        this.lostError = undefined
        this.#context.changed(this, undefined)
      }
      this.#ready()
    } catch (thrown) {
      if (channel && this.#channel === channel) this.#channel = undefined
      channel?.close().catch(() => undefined)
      if (this.#stopped || this.#context.connection.usable !== model) return
      if (isSwitchyardError(thrown) && !thrown.retryable) {
        // A declaration the broker refuses for good (406 arguments, 403): the stream ends with it.
        this.#sink.fail(thrown)
        return
      }
      if (this.#exclusive && (thrown as { code?: unknown }).code === 403) {
        // Standby of an ordered group: another consumer holds the queue; take over when it leaves.
        this.#ready()
        this.#scheduleRetry(250)
        return
      }
      this.#scheduleRetry()
    }
  }

  #ready(): void {
    if (this.#readyCalled) return
    this.#readyCalled = true
    this.#sink.ready()
  }

  /** Re-attaching while the connection stays up (a reconnection re-attaches through the driver). */
  #scheduleRetry(fixedMs?: number): void {
    if (this.#retry || this.#stopped) return
    const delay = fixedMs ?? Math.min(5_000, 100 * 2 ** this.#failures++)
    this.#retry = setTimeout(() => {
      this.#retry = undefined
      void this.attach()
    }, delay)
  }

  #channelClosed(ch: Channel): void {
    if (this.#channel !== ch) return
    this.#channel = undefined
    this.#consumerTag = undefined
    if (this.#stopped) return
    // A lost connection is the core's to reconnect; a lone channel is re-opened here.
    if (this.#context.connection.usable) this.#scheduleRetry()
  }

  #deliver(ch: Channel, raw: ConsumeMessage | null): void {
    if (raw === null) {
      this.#cancelledByBroker(ch)
      return
    }
    if (this.#channel !== ch) return
    this.#sink.deliver(new AmqpDelivery(this, ch, raw, toMessage(raw)))
  }

  #cancelledByBroker(ch: Channel): void {
    if (this.#channel !== ch) return
    const queue = this.#queue ?? '(unnamed)'
    this.lostError = new BrokerUnavailableError(
      'rabbitmq',
      this.#context.endpoint,
      `the broker cancelled the consumer of queue ${queue} (was the queue deleted?); ` +
        'Switchyard declares the queue again and resumes consuming',
    )
    this.#context.changed(this, this.lostError)
    if (this.spec.group !== undefined && this.#queue) this.#context.topology.invalidate(this.#queue)
    this.#channel = undefined
    this.#consumerTag = undefined
    ch.close().catch(() => undefined)
    if (!this.#stopped) this.#scheduleRetry()
  }
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
