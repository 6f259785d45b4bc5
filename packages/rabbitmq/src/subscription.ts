/**
 * `Subscription`: one consumer of one `subscribe()` stream, on a channel of its own.
 *
 * It declares its queue (the group's durable queue, or an exclusive auto-delete one without a
 * group), sets the channel prefetch to the in-flight limit, consumes with manual acks and hands
 * out settle-once deliveries. It re-attaches by itself when the broker cancels its consumer (queue
 * deleted: the queue is declared again) or closes its channel, and when the transport reconnects.
 * Deliveries from a channel that is gone settle as no-ops: the broker delivers them again.
 *
 * `nack` with requeue republishes a copy with the next attempt number to the same queue, and with
 * a delay to the delay queue of its bucket (which dead-letters back to this queue only); the
 * original is acked once the copy is confirmed. Retry and dead-letter policy is the Bus's job.
 */
import {
  BrokerUnavailableError,
  createDelivery,
  type Delivery,
  type DeliverySettler,
  isSwitchyardError,
  type SwitchyardError,
  TransportClosedError,
} from '@switchyard/core/spi'
import type { Channel, ConsumeMessage } from 'amqplib'
import type { Subscriber } from 'rxjs'
import { republishProperties, toMessage } from './amqp-message.js'
import type { ConnectionManager } from './connection-manager.js'
import { delayBucket, delayBucketHeader, type Naming } from './naming.js'
import type { Publisher } from './publisher.js'
import type { Topology } from './topology.js'

const kind = 'rabbitmq'

/** What a subscription needs from its transport. */
export interface SubscriptionContext {
  readonly endpoint: string
  readonly naming: Naming
  readonly connection: ConnectionManager
  readonly topology: Topology
  readonly publisher: Publisher
  /** True once the transport is closed: settling rejects. */
  isClosed(): boolean
  /** True while the transport closes: no re-attaching. */
  isStopping(): boolean
  /** Declares the group's queue (and its dead-letter queue); says whether to consume exclusively. */
  declareGroup(topic: string, group: string, ordered: boolean): Promise<{ queue: string; exclusive: boolean }>
  /** The broker cancelled this consumer. */
  consumerLost(subscription: Subscription, error: SwitchyardError): void
  /** The consumer is attached again. */
  consumerBack(subscription: Subscription): void
}

export interface SubscriptionSpec {
  readonly topic: string
  readonly group: string | undefined
  readonly prefetch: number
  readonly ordered: boolean
  readonly onReady: (() => void) | undefined
}

export class Subscription {
  readonly spec: SubscriptionSpec
  readonly #context: SubscriptionContext
  readonly #subscriber: Subscriber<Delivery>
  #queue: string | undefined
  #channel: Channel | undefined
  #consumerTag: string | undefined
  #generation = 0
  #unsettled = 0
  #detached = false
  #readyCalled = false
  #attaching = false
  #retry: NodeJS.Timeout | undefined
  #failures = 0
  #exclusive = false
  #closingChannel: Promise<void> | undefined
  #drainWaiters: (() => void)[] = []
  /** Why the consumer is not attached, while it is not. */
  lostError: SwitchyardError | undefined

  constructor(context: SubscriptionContext, spec: SubscriptionSpec, subscriber: Subscriber<Delivery>) {
    this.#context = context
    this.spec = spec
    this.#subscriber = subscriber
  }

  get queue(): string | undefined {
    return this.#queue
  }

  get unsettled(): number {
    return this.#unsettled
  }

  get attached(): boolean {
    return this.#channel !== undefined && this.#consumerTag !== undefined
  }

  /** Declares the queue and starts consuming; safe to call again (no-op while attached or attaching). */
  async attach(): Promise<void> {
    if (this.#detached || this.#attaching || this.attached || this.#context.isStopping()) return
    this.#attaching = true
    clearTimeout(this.#retry)
    this.#retry = undefined
    let channel: Channel | undefined
    try {
      const model = await this.#context.connection.ensure(false)
      const { group, topic } = this.spec
      let exclusive = false
      if (group !== undefined) {
        const declared = await this.#context.declareGroup(topic, group, this.spec.ordered)
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
      await ch.prefetch(this.spec.prefetch)
      if (group === undefined) {
        const declared = await ch.assertQueue('', { exclusive: true, autoDelete: true, durable: false })
        await ch.bindQueue(declared.queue, this.#context.naming.exchange, topic)
        this.#queue = declared.queue
      }
      const generation = ++this.#generation
      this.#unsettled = 0
      this.#channel = ch
      const { consumerTag } = await ch.consume(
        this.#queue as string,
        (raw) => this.#deliver(ch, generation, raw),
        {
          noAck: false,
          exclusive,
        },
      )
      if (this.#detached || this.#channel !== ch) {
        ch.close().catch(() => undefined)
        return
      }
      this.#consumerTag = consumerTag
      this.#failures = 0
      if (this.lostError) {
        this.lostError = undefined
        this.#context.consumerBack(this)
      }
      this.#callReady()
    } catch (thrown) {
      if (channel && this.#channel === channel) this.#channel = undefined
      channel?.close().catch(() => undefined)
      if (this.#detached || this.#context.isStopping()) return
      const fatal = isSwitchyardError(thrown) && !thrown.retryable
      if (fatal) {
        this.#subscriber.error(thrown)
        return
      }
      if (this.#exclusive && (thrown as { code?: unknown }).code === 403) {
        // Standby of an ordered group: another consumer holds the queue; take over when it leaves.
        this.#callReady()
        this.#scheduleRetry(250)
        return
      }
      this.#scheduleRetry()
    } finally {
      this.#attaching = false
    }
  }

  /** Stops the consumer but keeps the channel, so in-flight deliveries can still be settled (drain). */
  async stopConsuming(): Promise<void> {
    clearTimeout(this.#retry)
    const ch = this.#channel
    const tag = this.#consumerTag
    this.#consumerTag = undefined
    if (ch && tag) await ch.cancel(tag).catch(() => undefined)
  }

  /** Resolves when no delivery is unsettled, or after `timeoutMs`. */
  drained(timeoutMs: number): Promise<void> {
    if (this.#unsettled === 0) return Promise.resolve()
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs)
      this.#drainWaiters.push(() => {
        clearTimeout(timer)
        resolve()
      })
    })
  }

  /**
   * Ends the subscription: unsettled deliveries go back to the broker with the channel. Resolves
   * once the broker confirmed the channel close, so settlements sent before it have been applied.
   */
  detach(): Promise<void> {
    this.#detached = true
    clearTimeout(this.#retry)
    const ch = this.#channel
    this.#channel = undefined
    this.#consumerTag = undefined
    if (ch) this.#closingChannel = ch.close().catch(() => undefined)
    return this.#closingChannel ?? Promise.resolve()
  }

  /** The connection is gone: forget the channel (deliveries on it are settled as no-ops). */
  onLost(): void {
    this.#channel = undefined
    this.#consumerTag = undefined
    this.#generation++
    this.#unsettled = 0
    this.#wakeDrain()
  }

  /** Ends the stream with `error` (credentials refused, or another fatal error). */
  fail(error: SwitchyardError): void {
    this.#detached = true
    clearTimeout(this.#retry)
    this.#subscriber.error(error)
  }

  /** Ends the stream quietly: the transport was closed on purpose. */
  end(): void {
    this.#detached = true
    clearTimeout(this.#retry)
    this.#subscriber.complete()
  }

  #callReady(): void {
    if (this.#readyCalled) return
    this.#readyCalled = true
    this.spec.onReady?.()
  }

  #scheduleRetry(fixedMs?: number): void {
    if (this.#retry || this.#detached) return
    const delay = fixedMs ?? Math.min(5_000, 100 * 2 ** this.#failures++) * (0.8 + Math.random() * 0.4)
    this.#retry = setTimeout(() => {
      this.#retry = undefined
      void this.attach()
    }, delay)
  }

  #channelClosed(ch: Channel): void {
    if (this.#channel !== ch) return
    this.#channel = undefined
    this.#consumerTag = undefined
    this.#generation++
    this.#unsettled = 0
    this.#wakeDrain()
    if (this.#detached || this.#context.isStopping()) return
    // A lost connection is handled by the transport's reconnection; a lone channel is re-opened here.
    if (this.#context.connection.model) this.#scheduleRetry()
  }

  #deliver(ch: Channel, generation: number, raw: ConsumeMessage | null): void {
    if (raw === null) {
      this.#cancelledByBroker(ch)
      return
    }
    this.#unsettled++
    const message = toMessage(raw)
    const settler: DeliverySettler = {
      transport: kind,
      isClosed: () => this.#context.isClosed(),
      isDetached: () => this.#detached,
      ack: () => {
        this.#send(ch, generation, () => ch.ack(raw))
        return Promise.resolve()
      },
      nack: (options) => this.#nack(ch, generation, raw, message, options),
    }
    this.#subscriber.next(createDelivery(message, settler))
  }

  /** Sends a settlement on the delivery's channel if it is still the live one; else a no-op. */
  #send(ch: Channel, generation: number, settle: () => void): void {
    if (generation !== this.#generation || this.#channel !== ch) return
    try {
      settle()
    } catch {
      // the channel closed meanwhile: the broker delivers the message again
    }
    if (--this.#unsettled === 0) this.#wakeDrain()
  }

  async #nack(
    ch: Channel,
    generation: number,
    raw: ConsumeMessage,
    message: ReturnType<typeof toMessage>,
    options: { readonly requeue: boolean; readonly delayMs?: number },
  ): Promise<void> {
    if (!options.requeue) {
      this.#send(ch, generation, () => ch.reject(raw, false))
      return
    }
    const queue = this.#queue as string
    try {
      if (options.delayMs !== undefined) {
        const bucket = delayBucket(options.delayMs)
        await this.#context.topology.delayQueue(bucket)
        const properties = republishProperties(raw, message, { [delayBucketHeader]: String(bucket) })
        properties.mandatory = true
        await this.#context.publisher.publish([
          {
            exchange: this.#context.naming.delayExchange,
            routingKey: queue,
            content: raw.content,
            properties,
            topic: message.topic,
          },
        ])
      } else {
        const properties = republishProperties(raw, message)
        properties.mandatory = true
        await this.#context.publisher.publish([
          { exchange: '', routingKey: queue, content: raw.content, properties, topic: message.topic },
        ])
      }
      this.#send(ch, generation, () => ch.ack(raw))
    } catch (error) {
      // The copy may not be stored: give the original back instead (redelivered, attempt + 1).
      this.#send(ch, generation, () => ch.nack(raw, false, true))
      if (this.#context.isClosed()) {
        throw new TransportClosedError('nack a delivery', { cause: error, context: { transport: kind } })
      }
    }
  }

  #cancelledByBroker(ch: Channel): void {
    if (this.#channel !== ch) return
    const queue = this.#queue ?? '(unnamed)'
    const error = new BrokerUnavailableError(
      kind,
      this.#context.endpoint,
      `the broker cancelled the consumer of queue ${queue} (was the queue deleted?); ` +
        'Switchyard declares the queue again and resumes consuming',
    )
    this.lostError = error
    this.#context.consumerLost(this, error)
    if (this.spec.group !== undefined && this.#queue) this.#context.topology.invalidate(this.#queue)
    this.#channel = undefined
    this.#consumerTag = undefined
    this.#generation++
    this.#unsettled = 0
    this.#wakeDrain()
    ch.close().catch(() => undefined)
    if (!this.#detached && !this.#context.isStopping()) this.#scheduleRetry()
  }

  #wakeDrain(): void {
    if (this.#unsettled !== 0) return
    for (const wake of this.#drainWaiters.splice(0)) wake()
  }
}
