/**
 * The raw side of the request–reply cases: each broker's own request–reply with its client, the
 * way a hand-written service does it, responder and caller on two connections, replies echoing
 * the request's bytes, at most 16 requests handled at once, a timeout per request.
 *
 * - RabbitMQ (amqplib): requests published persistent to a durable topic exchange through a
 *   confirm channel, into a durable queue the responder consumes with manual acks and prefetch 16
 *   (as Switchyard's request goes); replies through direct reply-to (`amq.rabbitmq.reply-to`, no
 *   reply queue), each request acked once its reply is confirmed.
 * - NATS (@nats-io): core request/reply (`request` with a queue-group subscriber that `respond`s).
 *   Core NATS keeps nothing and acks nothing, where Switchyard's requests and replies go through
 *   JetStream streams with acks: this pair shows the price of that, not an overhead to remove.
 * - Redis (node-redis): streams by hand, as Switchyard maps them: `XADD` of the request (correlation
 *   id, reply stream, payload), the responder's `XREADGROUP … COUNT 16 BLOCK` on its own connection,
 *   `XADD` of the reply then `XACK`, the caller's `XREAD … BLOCK` on its reply stream.
 *
 * Kafka and memory have no raw side: Kafka has no request–reply of its own (a hand-made one is a
 * request topic, a group, a reply topic per caller read from its end and the correlation: what the
 * adapter and core do, not a short raw client), and memory has no client beneath the transport.
 */
import { randomUUID } from 'node:crypto'
import { connect as connectNats, type NatsConnection, type Subscription } from '@nats-io/transport-node'
import { natsConnection, rabbitmqConnection, redisConnection } from '@switchyard/brokers'
import { type ChannelModel, type ConfirmChannel, connect as connectAmqp } from 'amqplib'
import { createClient, RESP_TYPES } from 'redis'
import type { TransportName } from './plan.js'
import { type RequestReplyClient, requestTimeoutMs } from './request-reply.js'

const concurrency = 16
const group = 'bench-responder'

/** Requests waiting for their reply, by correlation id, each with its timeout. */
class Pending {
  readonly #waiting = new Map<string, { resolve(reply: Uint8Array): void; timer: NodeJS.Timeout }>()

  /** A fresh correlation id and the promise of its reply. */
  open(): [string, Promise<Uint8Array>] {
    const id = randomUUID()
    const reply = new Promise<Uint8Array>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id)
        reject(new Error(`no reply within ${requestTimeoutMs} ms`))
      }, requestTimeoutMs)
      this.#waiting.set(id, { resolve, timer })
    })
    return [id, reply]
  }

  settle(id: string, reply: Uint8Array): void {
    const waiting = this.#waiting.get(id)
    if (waiting === undefined) return // late or duplicate
    this.#waiting.delete(id)
    clearTimeout(waiting.timer)
    waiting.resolve(reply)
  }
}

class RawRabbitRequestReply implements RequestReplyClient {
  readonly side = 'raw' as const
  readonly #exchange = 'bench-raw.topics'
  readonly #pending = new Pending()
  readonly #models: ChannelModel[] = []
  #responder: ConfirmChannel | undefined
  #caller: ConfirmChannel | undefined
  #topic = ''
  #queue = ''

  async start(topic: string): Promise<void> {
    this.#topic = topic
    this.#queue = `bench-raw:${topic}:${group}`
    const responder = await this.#channel('bench-rr-raw-responder')
    this.#responder = responder
    await responder.assertExchange(this.#exchange, 'topic', { durable: true })
    await responder.assertQueue(this.#queue, { durable: true })
    await responder.bindQueue(this.#queue, this.#exchange, topic)
    await responder.prefetch(concurrency)
    await responder.consume(
      this.#queue,
      (request) => {
        if (request === null) return
        const { replyTo, correlationId } = request.properties as { replyTo: string; correlationId: string }
        responder.sendToQueue(replyTo, request.content, { correlationId }, (error) => {
          if (error) responder.nack(request)
          else responder.ack(request)
        })
      },
      { noAck: false },
    )
    const caller = await this.#channel('bench-rr-raw-caller')
    this.#caller = caller
    // Direct reply-to: consume the pseudo-queue (no ack) before publishing with replyTo set to it.
    await caller.consume(
      'amq.rabbitmq.reply-to',
      (reply) => {
        if (reply !== null) this.#pending.settle(reply.properties.correlationId as string, reply.content)
      },
      { noAck: true },
    )
  }

  request(payload: Uint8Array): Promise<Uint8Array> {
    const [correlationId, reply] = this.#pending.open()
    this.#caller?.publish(
      this.#exchange,
      this.#topic,
      Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength),
      { persistent: true, mandatory: true, correlationId, replyTo: 'amq.rabbitmq.reply-to' },
      () => undefined, // the reply, not the confirm, ends the request (as with Bus.request)
    )
    return reply
  }

  async close(): Promise<void> {
    await this.#responder?.deleteQueue(this.#queue).catch(() => undefined)
    for (const model of this.#models) await model.close().catch(() => undefined)
  }

  /** A confirm channel on a connection of its own. */
  async #channel(name: string): Promise<ConfirmChannel> {
    const model = await connectAmqp(rabbitmqConnection.url, { clientProperties: { connection_name: name } })
    this.#models.push(model)
    return model.createConfirmChannel()
  }
}

class RawNatsRequestReply implements RequestReplyClient {
  readonly side = 'raw' as const
  #responder: NatsConnection | undefined
  #subscription: Subscription | undefined
  #caller: NatsConnection | undefined
  #subject = ''

  async start(topic: string): Promise<void> {
    // Not under `bench-raw.`: the throughput cases' JetStream stream captures `bench-raw.>`, and a
    // request on a subject a stream captures is answered by JetStream's PubAck as well.
    this.#subject = `bench-rr-raw.${topic}`
    const responder = await connectNats({ servers: natsConnection.servers, name: 'bench-rr-raw-responder' })
    this.#responder = responder
    this.#subscription = responder.subscribe(this.#subject, {
      queue: group,
      callback: (error, message) => {
        if (error === null) message.respond(message.data)
      },
    })
    await responder.flush() // the subscription is registered at the server
    this.#caller = await connectNats({ servers: natsConnection.servers, name: 'bench-rr-raw-caller' })
  }

  async request(payload: Uint8Array): Promise<Uint8Array> {
    const reply = await (this.#caller as NatsConnection).request(this.#subject, payload, {
      timeout: requestTimeoutMs,
    })
    return reply.data
  }

  async close(): Promise<void> {
    this.#subscription?.unsubscribe()
    await this.#caller?.close()
    await this.#responder?.close()
  }
}

const buffers = { typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer } } as const
const newRedisClient = () => createClient({ url: redisConnection.url, RESP: 2 })
type RedisClient = ReturnType<typeof newRedisClient>
/** `XREAD`/`XREADGROUP` reply of one stream, with Buffer strings. */
type StreamReply = [Buffer, [Buffer, Buffer[]][]][] | null

class RawRedisRequestReply implements RequestReplyClient {
  readonly side = 'raw' as const
  readonly #pending = new Pending()
  readonly #replyKey = `bench-raw:reply:${randomUUID()}`
  readonly #clients: RedisClient[] = []
  #requestKey = ''
  #caller: RedisClient | undefined
  #stopped = false
  #loops: Promise<void>[] = []

  async start(topic: string): Promise<void> {
    this.#requestKey = `bench-raw:${topic}`
    const [responder, responderReader, caller, callerReader] = await Promise.all(
      [0, 1, 2, 3].map(async () => {
        const client = newRedisClient()
        await client.connect()
        this.#clients.push(client)
        return client
      }),
    )
    if (!responder || !responderReader || !caller || !callerReader) throw new Error('redis: no connection')
    this.#caller = caller
    await responder.xGroupCreate(this.#requestKey, group, '$', { MKSTREAM: true })
    this.#loops.push(this.#respond(responder, responderReader), this.#readReplies(callerReader))
  }

  request(payload: Uint8Array): Promise<Uint8Array> {
    const [correlationId, reply] = this.#pending.open()
    const fields = { corr: correlationId, replyTo: this.#replyKey, payload: Buffer.from(payload) }
    return (this.#caller as RedisClient).xAdd(this.#requestKey, '*', fields).then(() => reply)
  }

  /** The responder: up to 16 requests per read, each answered then acknowledged. */
  async #respond(commands: RedisClient, reader: RedisClient): Promise<void> {
    let inFlight = 0
    let wake: (() => void) | undefined
    while (!this.#stopped) {
      if (inFlight >= concurrency) {
        await new Promise<void>((resolve) => {
          wake = resolve
        })
        wake = undefined
        continue
      }
      const read = [
        'XREADGROUP',
        'GROUP',
        group,
        'raw',
        'COUNT',
        String(concurrency - inFlight),
        'BLOCK',
        '1000',
      ]
      const reply = (await reader
        .sendCommand([...read, 'STREAMS', this.#requestKey, '>'], buffers)
        .catch(() => null)) as StreamReply
      for (const [id, fields] of reply?.[0]?.[1] ?? []) {
        inFlight++
        // Fields in the order written: corr, <id>, replyTo, <stream>, payload, <bytes>.
        const [, corr, , replyTo, , payload] = fields as [Buffer, Buffer, Buffer, Buffer, Buffer, Buffer]
        void commands
          .xAdd(replyTo.toString(), '*', { corr, payload })
          .then(() => commands.xAck(this.#requestKey, group, id.toString('latin1')))
          .catch(() => undefined)
          .finally(() => {
            inFlight--
            wake?.()
          })
      }
    }
  }

  /** The caller's reply reader: every reply on this caller's stream, from the start. */
  async #readReplies(reader: RedisClient): Promise<void> {
    let last = '0'
    while (!this.#stopped) {
      const reply = (await reader
        .sendCommand(['XREAD', 'COUNT', '1000', 'BLOCK', '1000', 'STREAMS', this.#replyKey, last], buffers)
        .catch(() => null)) as StreamReply
      for (const [id, fields] of reply?.[0]?.[1] ?? []) {
        last = id.toString('latin1')
        // Fields in the order written: corr, <id>, payload, <bytes>.
        this.#pending.settle((fields[1] as Buffer).toString(), fields[3] as Buffer)
      }
    }
  }

  async close(): Promise<void> {
    this.#stopped = true
    const [commands] = this.#clients
    await commands?.del([this.#requestKey, this.#replyKey]).catch(() => undefined)
    for (const client of this.#clients) client.destroy() // also ends the blocked reads
    await Promise.all(this.#loops)
  }
}

/** The raw request–reply client of `transport` (those `rawRequestReply` in plan.ts names). */
export function rawRequestReplyClient(transport: TransportName): RequestReplyClient {
  switch (transport) {
    case 'rabbitmq':
      return new RawRabbitRequestReply()
    case 'nats':
      return new RawNatsRequestReply()
    case 'redis':
      return new RawRedisRequestReply()
    default:
      throw new Error(`no raw request–reply client for ${transport}`)
  }
}
