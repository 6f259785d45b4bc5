/**
 * RabbitMQ benchmark clients: Switchyard's `Bus` over `RabbitMqTransport`, and raw amqplib doing
 * the same work — a durable topic exchange, a durable queue per group bound by the topic, a
 * confirm channel, persistent messages, the same confirm window (all messages of a batch published,
 * then every confirm awaited), manual acks with prefetch = concurrency.
 *
 * Queues are deleted through a separate management channel after each case; that is not measured.
 */
import { randomUUID } from 'node:crypto'
import { rabbitmqConnection } from '@switchyard/brokers'
import { Bus, bytesCodec } from '@switchyard/core'
import { Naming, RabbitMqTransport } from '@switchyard/rabbitmq'
import { type Channel, type ChannelModel, type ConfirmChannel, connect, type Options } from 'amqplib'
import { consumeWithBus } from './bus-consumer.js'
import type { BenchClient, ConsumerHandle, Side } from './client.js'

const switchyardPrefix = 'bench-sy'
const done: Promise<void> = Promise.resolve()

/**
 * Publish properties of the raw side: persistent only, what a hand-written amqplib publisher
 * sends. With `SWITCHYARD_BENCH_RAW_METADATA=1` (an experiment, off in `npm run bench`) the raw
 * side also sends what Switchyard puts on every message — a message id, a timestamp and the
 * content-type and millisecond-timestamp headers — to separate the cost of those bytes at the
 * broker from the cost of the Switchyard layer.
 */
function rawProperties(): Options.Publish {
  if (process.env.SWITCHYARD_BENCH_RAW_METADATA !== '1') return { persistent: true }
  const now = Date.now()
  return {
    persistent: true,
    messageId: randomUUID(),
    timestamp: Math.floor(now / 1000),
    headers: { 'content-type': 'application/octet-stream', 'x-switchyard-timestamp': String(now) },
  }
}
const rawPrefix = 'bench-raw'

/** A lazily opened connection with one plain channel, for declaring and deleting queues. */
class Management {
  #connection: Promise<{ model: ChannelModel; channel: Channel }> | undefined

  channel(): Promise<Channel> {
    this.#connection ??= connect(rabbitmqConnection.url).then(async (model) => ({
      model,
      channel: await model.createChannel(),
    }))
    return this.#connection.then((c) => c.channel)
  }

  async deleteQueues(queues: readonly string[]): Promise<void> {
    const channel = await this.channel()
    for (const queue of queues) await channel.deleteQueue(queue)
  }

  async close(): Promise<void> {
    if (this.#connection === undefined) return
    const { model } = await this.#connection
    await model.close()
  }
}

class SwitchyardRabbitClient implements BenchClient {
  readonly side = 'switchyard' as const
  readonly #transport = new RabbitMqTransport({
    url: rabbitmqConnection.url,
    prefix: switchyardPrefix,
    connectionName: 'bench-switchyard',
    // An experiment (unset in `npm run bench`): compare confirm windows in flight against the default.
    ...(process.env.SWITCHYARD_BENCH_RABBITMQ_WINDOWS
      ? { confirmWindows: Number(process.env.SWITCHYARD_BENCH_RABBITMQ_WINDOWS) }
      : {}),
  })
  readonly #bus = new Bus(this.#transport, { codec: bytesCodec })
  readonly #naming = new Naming(switchyardPrefix)
  readonly #management = new Management()

  prepare(topic: string, group: string): Promise<void> {
    return this.#transport.provision(topic, { groups: [group] })
  }

  publishOne(topic: string, payload: Uint8Array): Promise<void> {
    return this.#bus.publish(topic, payload)
  }

  publishBatch(topic: string, payloads: readonly Uint8Array[]): Promise<void> {
    return this.#bus.publishBatch(payloads.map((payload) => ({ topic, payload })))
  }

  consume(
    topic: string,
    group: string,
    concurrency: number,
    onMessage: (payload: Uint8Array) => void,
  ): Promise<ConsumerHandle> {
    return consumeWithBus(this.#bus, topic, { group }, concurrency, onMessage)
  }

  cleanup(topic: string, group: string): Promise<void> {
    return this.#management.deleteQueues([
      this.#naming.groupQueue(topic, group),
      this.#naming.groupQueue(`${topic}.dlq`, 'dlq'),
    ])
  }

  async close(): Promise<void> {
    await this.#bus.close({ drain: false })
    await this.#management.close()
  }
}

class RawRabbitClient implements BenchClient {
  readonly side = 'raw' as const
  readonly #exchange = `${rawPrefix}.topics`
  readonly #management = new Management()
  #model: Promise<ChannelModel> | undefined
  #confirm: Promise<ConfirmChannel> | undefined

  async prepare(topic: string, group: string): Promise<void> {
    const channel = await this.#management.channel()
    await channel.assertExchange(this.#exchange, 'topic', { durable: true })
    const queue = this.#queue(topic, group)
    await channel.assertQueue(queue, { durable: true })
    await channel.bindQueue(queue, this.#exchange, topic)
    await this.#confirmChannel()
  }

  async publishOne(topic: string, payload: Uint8Array): Promise<void> {
    const channel = await this.#confirmChannel()
    await new Promise<void>((resolve, reject) => {
      channel.publish(this.#exchange, topic, asBuffer(payload), rawProperties(), (error) =>
        error ? reject(error) : resolve(),
      )
    })
  }

  async publishBatch(topic: string, payloads: readonly Uint8Array[]): Promise<void> {
    const channel = await this.#confirmChannel()
    let remaining = payloads.length
    let failure: unknown
    let finish: () => void = () => undefined
    const confirmed = new Promise<void>((resolve) => {
      finish = resolve
    })
    for (const payload of payloads) {
      const written = channel.publish(this.#exchange, topic, asBuffer(payload), rawProperties(), (error) => {
        if (error) failure ??= error
        if (--remaining === 0) finish()
      })
      if (!written) await new Promise<void>((resolve) => channel.once('drain', () => resolve()))
    }
    await confirmed
    if (failure !== undefined) throw failure
  }

  async consume(
    topic: string,
    group: string,
    concurrency: number,
    onMessage: (payload: Uint8Array) => void,
  ): Promise<ConsumerHandle> {
    const model = await this.#connection()
    const channel = await model.createChannel()
    await channel.prefetch(concurrency)
    const { consumerTag } = await channel.consume(
      this.#queue(topic, group),
      (message) => {
        if (message === null) return
        if (concurrency === 1) {
          onMessage(message.content)
          channel.ack(message)
          return
        }
        // An asynchronous handler doing nothing, then ack, as on the Bus side.
        void done.then(() => {
          onMessage(message.content)
          channel.ack(message)
        })
      },
      { noAck: false },
    )
    return {
      stop: async () => {
        await channel.cancel(consumerTag)
        await channel.close()
      },
    }
  }

  cleanup(topic: string, group: string): Promise<void> {
    return this.#management.deleteQueues([this.#queue(topic, group)])
  }

  async close(): Promise<void> {
    await this.#management.close()
    if (this.#model !== undefined) await (await this.#model).close()
  }

  #queue(topic: string, group: string): string {
    return `${rawPrefix}:${topic}:${group}`
  }

  #connection(): Promise<ChannelModel> {
    this.#model ??= connect(rabbitmqConnection.url, { clientProperties: { connection_name: 'bench-raw' } })
    return this.#model
  }

  #confirmChannel(): Promise<ConfirmChannel> {
    this.#confirm ??= this.#connection().then((model) => model.createConfirmChannel())
    return this.#confirm
  }
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/** The RabbitMQ pair: `switchyard` is the Bus over RabbitMqTransport, `raw` amqplib with the same settings. */
export function rabbitmqClient(side: Side): Promise<BenchClient> {
  return Promise.resolve(side === 'switchyard' ? new SwitchyardRabbitClient() : new RawRabbitClient())
}
