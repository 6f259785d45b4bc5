/**
 * The Switchyard side of the request–reply cases, on every transport: a responder `Bus.reply`
 * (group `bench-responder`, concurrency 16) that returns the request's bytes, and a caller
 * `Bus.request` on a second transport of the same broker (memory: the same transport), bytes
 * codec both ways. Also picks the raw side (`request-reply-raw.ts`) where the plan has one.
 */
import { kafkaConnection, natsConnection, rabbitmqConnection, redisConnection } from '@switchyard/brokers'
import { Bus, bytesCodec, type HandlerSubscription, type Transport } from '@switchyard/core'
import { KafkaTransport } from '@switchyard/kafka'
import { MemoryTransport } from '@switchyard/memory'
import { NatsTransport } from '@switchyard/nats'
import { RabbitMqTransport } from '@switchyard/rabbitmq'
import { RedisTransport } from '@switchyard/redis'
import type { Side } from './client.js'
import { rawRequestReply, type TransportName } from './plan.js'
import { type RequestReplyClient, requestTimeoutMs } from './request-reply.js'

const group = 'bench-responder'
/** Requests the responder handles at once; the most the 16-in-flight case keeps outstanding. */
const concurrency = 16

const makers: Record<TransportName, (role: string) => Transport> = {
  memory: () => new MemoryTransport(),
  kafka: (role) => new KafkaTransport({ brokers: kafkaConnection.brokers, clientId: `bench-rr-${role}` }),
  rabbitmq: (role) =>
    new RabbitMqTransport({
      url: rabbitmqConnection.url,
      prefix: 'bench-sy',
      connectionName: `bench-rr-${role}`,
    }),
  redis: () => new RedisTransport({ url: redisConnection.url, prefix: 'bench-sy:' }),
  nats: (role) =>
    new NatsTransport({ servers: natsConnection.servers, prefix: 'bench-sy', name: `bench-rr-${role}` }),
}

class SwitchyardRequestReply implements RequestReplyClient {
  readonly side = 'switchyard' as const
  readonly #responderTransport: Transport
  readonly #callerTransport: Transport
  readonly #responder: Bus
  readonly #caller: Bus
  #topic: string | undefined
  #replies: HandlerSubscription | undefined

  constructor(transport: TransportName) {
    this.#responderTransport = makers[transport]('responder')
    this.#callerTransport = transport === 'memory' ? this.#responderTransport : makers[transport]('caller')
    this.#responder = new Bus(this.#responderTransport, { codec: bytesCodec })
    this.#caller = new Bus(this.#callerTransport, { codec: bytesCodec })
  }

  async start(topic: string): Promise<void> {
    this.#topic = topic
    await this.#responderTransport.provision(topic, { groups: [group] })
    this.#replies = this.#responder.reply<Uint8Array, Uint8Array>(
      topic,
      { group, concurrency },
      (m) => m.payload,
    )
    await this.#replies.ready
  }

  request(payload: Uint8Array): Promise<Uint8Array> {
    return this.#caller.request(this.#topic as string, payload, {
      codec: bytesCodec,
      replyCodec: bytesCodec,
      timeoutMs: requestTimeoutMs,
    })
  }

  async close(): Promise<void> {
    // The caller's Bus deletes its reply topic as it closes (persistent transports).
    await this.#caller.close({ drain: false })
    await this.#replies?.stop({ timeoutMs: 5_000 })
    await this.#responder.close({ drain: false })
    if (this.#topic !== undefined) {
      // The group's resources, then the topic's own (Redis keeps the stream when given groups).
      await this.#responderTransport.deprovision(this.#topic, { groups: [group] }).catch(() => undefined)
      await this.#responderTransport.deprovision(this.#topic).catch(() => undefined)
    }
    await this.#responderTransport.close({ drain: false })
    if (this.#callerTransport !== this.#responderTransport)
      await this.#callerTransport.close({ drain: false })
  }
}

/** The client of one side; the raw side exists where `rawRequestReply` names one. */
export async function requestReplyClient(transport: TransportName, side: Side): Promise<RequestReplyClient> {
  if (side === 'switchyard') return new SwitchyardRequestReply(transport)
  if (rawRequestReply[transport] === undefined)
    throw new Error(`no raw request–reply client for ${transport}`)
  return (await import('./request-reply-raw.js')).rawRequestReplyClient(transport)
}
