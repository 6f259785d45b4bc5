/**
 * NATS JetStream benchmark clients: Switchyard's `Bus` over `NatsTransport`, and the raw `@nats-io`
 * v3 client doing the same work — a file-stored stream per side capturing `<prefix>.>`, a durable
 * pull consumer per group with explicit acks and the same `max_ack_pending`, publishes pipelined
 * (every message of a batch sent, then every PubAck awaited), and pulls of twice the concurrency
 * (the Switchyard window: in-flight plus as many held back behind busy keys).
 *
 * Consumers are deleted and the subject purged after each case; that is not measured.
 */

import { randomUUID } from 'node:crypto'
import {
  AckPolicy,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  StorageType,
} from '@nats-io/jetstream'
import { connect, type NatsConnection, headers as natsHeaders } from '@nats-io/transport-node'
import { natsConnection } from '@switchyard/brokers'
import { Bus, bytesCodec, SwitchyardHeaders } from '@switchyard/core'
import { NatsTransport } from '@switchyard/nats'
import { consumeWithBus } from './bus-consumer.js'
import type { BenchClient, ConsumerHandle, Side } from './client.js'

const switchyardPrefix = 'bench-sy'
const rawPrefix = 'bench-raw'
/** `max_ack_pending` of both sides' group consumers (the transport's default). */
const maxAckPending = 10_000

/**
 * Publish options of the raw side: none, what a hand-written producer sends. With
 * `SWITCHYARD_BENCH_RAW_METADATA=1` (an experiment, off in `npm run bench`) the headers Switchyard
 * puts on every message (content type, id, timestamp), to separate the cost of those bytes from
 * the cost of the Switchyard layer.
 */
function rawPublishOptions(): { headers: ReturnType<typeof natsHeaders> } | undefined {
  if (process.env.SWITCHYARD_BENCH_RAW_METADATA !== '1') return undefined
  const h = natsHeaders()
  h.set(SwitchyardHeaders.contentType, 'application/octet-stream')
  h.set(SwitchyardHeaders.messageId, randomUUID())
  h.set(SwitchyardHeaders.timestamp, String(Date.now()))
  return { headers: h }
}
const done: Promise<void> = Promise.resolve()

/** A lazily opened connection with its JetStream manager, for cleanup (both sides) and the raw side. */
class Session {
  #session: Promise<{ nc: NatsConnection; js: JetStreamClient; jsm: JetStreamManager }> | undefined

  get(): Promise<{ nc: NatsConnection; js: JetStreamClient; jsm: JetStreamManager }> {
    this.#session ??= connect({ servers: natsConnection.servers, name: 'bench' }).then(async (nc) => ({
      nc,
      js: jetstream(nc),
      jsm: await jetstreamManager(nc),
    }))
    return this.#session
  }

  /** Deletes the consumers filtered on the topic's subject and purges the subject. */
  async cleanup(stream: string, topic: string): Promise<void> {
    const { jsm } = await this.get()
    const subject = `${stream}.${topic}`
    for await (const info of jsm.consumers.list(stream)) {
      if (info.config.filter_subject === subject) await jsm.consumers.delete(stream, info.name)
    }
    await jsm.streams.purge(stream, { filter: subject })
  }

  async close(): Promise<void> {
    if (this.#session === undefined) return
    const { nc } = await this.#session
    await nc.close()
  }
}

class SwitchyardNatsClient implements BenchClient {
  readonly side = 'switchyard' as const
  readonly #transport = new NatsTransport({
    servers: natsConnection.servers,
    prefix: switchyardPrefix,
    name: 'bench-switchyard',
    maxAckPending,
  })
  readonly #bus = new Bus(this.#transport, { codec: bytesCodec })
  readonly #session = new Session()

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

  cleanup(topic: string): Promise<void> {
    return this.#session.cleanup(switchyardPrefix, topic)
  }

  async close(): Promise<void> {
    await this.#bus.close({ drain: false })
    await this.#session.close()
  }
}

class RawNatsClient implements BenchClient {
  readonly side = 'raw' as const
  readonly #session = new Session()

  async prepare(topic: string, group: string): Promise<void> {
    const { jsm } = await this.#session.get()
    await jsm.streams
      .info(rawPrefix)
      .catch(() =>
        jsm.streams.add({ name: rawPrefix, subjects: [`${rawPrefix}.>`], storage: StorageType.File }),
      )
    await jsm.consumers.add(rawPrefix, {
      durable_name: group,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.New,
      filter_subject: `${rawPrefix}.${topic}`,
      max_ack_pending: maxAckPending,
    })
  }

  async publishOne(topic: string, payload: Uint8Array): Promise<void> {
    const { js } = await this.#session.get()
    await js.publish(`${rawPrefix}.${topic}`, payload, rawPublishOptions())
  }

  async publishBatch(topic: string, payloads: readonly Uint8Array[]): Promise<void> {
    const { js } = await this.#session.get()
    const subject = `${rawPrefix}.${topic}`
    await Promise.all(payloads.map((payload) => js.publish(subject, payload, rawPublishOptions())))
  }

  async consume(
    _topic: string,
    group: string,
    concurrency: number,
    onMessage: (payload: Uint8Array) => void,
  ): Promise<ConsumerHandle> {
    const { js } = await this.#session.get()
    const consumer = await js.consumers.get(rawPrefix, group)
    const messages = await consumer.consume({
      max_messages: 2 * concurrency,
      callback: (m) => {
        if (concurrency === 1) {
          onMessage(m.data)
          m.ack()
          return
        }
        // An asynchronous handler doing nothing, then ack, as on the Bus side.
        void done.then(() => {
          onMessage(m.data)
          m.ack()
        })
      },
    })
    return {
      stop: async () => {
        await messages.close()
      },
    }
  }

  cleanup(topic: string): Promise<void> {
    return this.#session.cleanup(rawPrefix, topic)
  }

  close(): Promise<void> {
    return this.#session.close()
  }
}

/** The NATS pair: `switchyard` is the Bus over NatsTransport, `raw` the @nats-io client with the same settings. */
export function natsClient(side: Side): Promise<BenchClient> {
  return Promise.resolve(side === 'switchyard' ? new SwitchyardNatsClient() : new RawNatsClient())
}
