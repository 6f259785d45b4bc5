/**
 * `Topology`: declares the exchanges and queues of a transport and declares them again after
 * every reconnection.
 *
 * It remembers every durable group queue it has declared (for subscriptions or `provision`) and
 * every delay bucket in use, and re-declares them all on a new connection, so a broker that lost
 * them (restart without persistence, a deleted queue) gets them back. Declarations run on one
 * admin channel; a refused declaration (406, different arguments) becomes a `ConfigError`. It
 * does not consume or publish.
 */
import type { Channel, ChannelModel, Options } from 'amqplib'
import { topologyError } from './errors.js'
import { delayBucketHeader, type Naming } from './naming.js'
import type { RabbitMqQueueOptions, ResolvedOptions } from './options.js'

/** A durable group queue bound to the topic exchange with `bindingKey` (a topic or a pattern). */
export interface GroupQueue {
  readonly queue: string
  readonly bindingKey: string
  readonly options: RabbitMqQueueOptions
}

/** `assertQueue` options of a durable group queue. */
export function queueArguments(q: RabbitMqQueueOptions): Options.AssertQueue {
  const args: Record<string, unknown> = {}
  if (q.quorum) args['x-queue-type'] = 'quorum'
  if (q.maxPriority !== undefined) args['x-max-priority'] = q.maxPriority
  if (q.singleActiveConsumer) args['x-single-active-consumer'] = true
  if (q.messageTtlMs !== undefined) args['x-message-ttl'] = q.messageTtlMs
  if (q.maxLength !== undefined) {
    args['x-max-length'] = q.maxLength
    args['x-overflow'] = q.overflow ?? 'drop-head'
  }
  return { durable: true, autoDelete: false, exclusive: false, arguments: args }
}

export class Topology {
  readonly #options: ResolvedOptions
  readonly #naming: Naming
  /** Every group queue ever declared, by queue name: re-declared after each reconnection. */
  readonly #groups = new Map<string, GroupQueue>()
  readonly #delayBuckets = new Set<number>()
  /** Declarations made (or under way) on the current connection. */
  #declared = new Map<string, Promise<void>>()
  #model: ChannelModel | undefined
  #channel: Promise<Channel> | undefined

  constructor(options: ResolvedOptions, naming: Naming) {
    this.#options = options
    this.#naming = naming
  }

  /** Declares the exchanges and everything remembered; per-queue failures are left to their users. */
  async onConnected(model: ChannelModel): Promise<void> {
    this.#model = model
    this.#declared = new Map()
    this.#channel = undefined
    await this.#run('the exchanges', async (ch) => {
      await ch.assertExchange(this.#naming.exchange, 'topic', { durable: true })
      await ch.assertExchange(this.#naming.delayExchange, 'headers', { durable: true })
    })
    const pending: Promise<void>[] = []
    for (const group of this.#groups.values()) pending.push(this.groupQueue(group).catch(() => undefined))
    for (const bucket of this.#delayBuckets) pending.push(this.delayQueue(bucket).catch(() => undefined))
    await Promise.all(pending)
  }

  /** Declares the exchanges again (a channel failed with 404: someone deleted one). */
  async redeclareExchanges(): Promise<void> {
    await this.#run('the exchanges', async (ch) => {
      await ch.assertExchange(this.#naming.exchange, 'topic', { durable: true })
      await ch.assertExchange(this.#naming.delayExchange, 'headers', { durable: true })
    })
  }

  onLost(): void {
    this.#model = undefined
    this.#channel = undefined
    this.#declared = new Map()
  }

  /** Declares (once per connection) a durable group queue and its binding; remembers it. */
  groupQueue(group: GroupQueue): Promise<void> {
    this.#groups.set(group.queue, group)
    return this.#once(`q:${group.queue}:${group.bindingKey}`, `queue ${group.queue}`, async (ch) => {
      await ch.assertQueue(group.queue, queueArguments(group.options))
      await ch.bindQueue(group.queue, this.#naming.exchange, group.bindingKey)
    })
  }

  /** The remembered group queues bound with `bindingKey` (a topic or a pattern). */
  groupQueuesOf(bindingKey: string): string[] {
    return [...this.#groups.values()].filter((g) => g.bindingKey === bindingKey).map((g) => g.queue)
  }

  /** Forgets a declaration, so that the next `groupQueue` call declares it again (queue deleted). */
  invalidate(queue: string): void {
    for (const key of this.#declared.keys()) if (key.startsWith(`q:${queue}:`)) this.#declared.delete(key)
  }

  /**
   * Deletes a group queue (with its messages) and forgets it, so it is no longer re-declared after
   * a reconnection. A queue that does not exist is skipped.
   */
  async deleteGroupQueue(queue: string): Promise<void> {
    this.#groups.delete(queue)
    this.invalidate(queue)
    await this.#run(`queue ${queue}`, async (ch) => {
      await ch.deleteQueue(queue)
    })
  }

  /** Declares the TTL queue of a delay bucket, bound to the delay exchange by header. */
  delayQueue(bucketMs: number): Promise<void> {
    this.#delayBuckets.add(bucketMs)
    const queue = this.#naming.delayQueue(bucketMs)
    return this.#once(`d:${bucketMs}`, `queue ${queue}`, async (ch) => {
      await ch.assertQueue(queue, {
        durable: true,
        arguments: { 'x-message-ttl': bucketMs, 'x-dead-letter-exchange': '' },
      })
      await ch.bindQueue(queue, this.#naming.delayExchange, '', {
        'x-match': 'all',
        [delayBucketHeader]: String(bucketMs),
      })
    })
  }

  #once(key: string, what: string, declare: (ch: Channel) => Promise<void>): Promise<void> {
    const existing = this.#declared.get(key)
    if (existing) return existing
    const declared = this.#declared
    const running = this.#run(what, declare)
    declared.set(key, running)
    running.catch(() => {
      if (declared.get(key) === running) declared.delete(key)
    })
    return running
  }

  async #run(what: string, declare: (ch: Channel) => Promise<void>): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const model = this.#model
      let channel: Channel | undefined
      try {
        if (!model) throw new Error('not connected')
        channel = await this.#adminChannel(model)
        await declare(channel)
        return
      } catch (error) {
        const code = (error as { code?: unknown }).code
        // Another declaration on the shared channel failed and closed it: try once more on a new one.
        const retry = attempt === 0 && this.#model === model && model !== undefined && code === undefined
        if (!retry) throw topologyError(error, what, this.#options.endpoint)
      }
    }
  }

  #adminChannel(model: ChannelModel): Promise<Channel> {
    if (this.#channel) return this.#channel
    const opening = model.createChannel().then((ch) => {
      ch.on('error', () => {
        // the failed operation rejects with this error; 'close' follows
      })
      ch.on('close', () => {
        if (this.#channel === opening) this.#channel = undefined
      })
      return ch
    })
    opening.catch(() => {
      if (this.#channel === opening) this.#channel = undefined
    })
    this.#channel = opening
    return opening
  }

  /** Message count and consumer count of a queue, or undefined when it does not exist. */
  async inspect(queue: string): Promise<{ messageCount: number; consumerCount: number } | undefined> {
    const model = this.#model
    if (!model) return undefined
    // checkQueue on a missing queue closes its channel, so use a channel of its own.
    const ch = await model.createChannel()
    ch.on('error', () => undefined)
    try {
      const reply = await ch.checkQueue(queue)
      return { messageCount: reply.messageCount, consumerCount: reply.consumerCount }
    } catch {
      return undefined
    } finally {
      ch.close().catch(() => undefined)
    }
  }
}
