/**
 * Kafka benchmark clients: Switchyard's `Bus` over `KafkaTransport`, and raw kafkajs with the
 * adapter's settings — idempotent producer, acks=-1, one request in flight, the same batch sizes,
 * topics with 3 partitions, the same consumer session/heartbeat/fetch settings, offsets committed
 * every 250 ms from `eachBatch`.
 *
 * The raw consumer processes each fetched batch `concurrency` messages at a time (kafkajs itself
 * only parallelises across partitions), resolving offsets in order. Topics are created and
 * deleted through an admin client on both sides; that work is never measured.
 */

import { randomUUID } from 'node:crypto'
import { kafkaConnection } from '@switchyard/brokers'
import { Bus, bytesCodec } from '@switchyard/core'
import { KafkaTransport } from '@switchyard/kafka'
import { type Admin, Kafka, logLevel, type Producer } from 'kafkajs'
import { consumeWithBus } from './bus-consumer.js'
import type { BenchClient, ConsumerHandle, Side } from './client.js'

const partitions = 3
const done: Promise<void> = Promise.resolve()
const settings = {
  sessionTimeout: 30_000,
  heartbeatInterval: 1_000,
  maxWaitTimeInMs: 200,
  maxBytesPerPartition: 1024 * 1024,
  commitIntervalMs: 250,
}

/** A Buffer view of the bytes, without copying (what the adapter does too). */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

async function createTopic(admin: Admin, topic: string): Promise<void> {
  const existing = await admin.listTopics()
  if (existing.includes(topic)) return
  await admin.createTopics({
    topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }],
    waitForLeaders: true,
  })
}

/**
 * Deletes the topics a worker created, once its producer and consumers are gone: a kafkajs client
 * that knew a deleted topic fails later metadata refreshes ("This server does not host this
 * topic-partition"), so topics are never deleted under a live client.
 */
async function deleteTopics(admin: Admin, topics: ReadonlySet<string>): Promise<void> {
  if (topics.size > 0) await admin.deleteTopics({ topics: [...topics] }).catch(() => undefined)
}

/**
 * One raw kafkajs record. With `SWITCHYARD_BENCH_RAW_METADATA=1` (an experiment, off in
 * `npm run bench`) the raw side also sends the two headers Switchyard puts on every record
 * (`x-switchyard-id`, `content-type`), to separate kafkajs's per-header encoding cost from the cost
 * of the Switchyard layer.
 */
function rawRecord(payload: Uint8Array): { value: Buffer; headers?: Record<string, string> } {
  if (process.env.SWITCHYARD_BENCH_RAW_METADATA !== '1') return { value: asBuffer(payload) }
  return {
    value: asBuffer(payload),
    headers: { 'x-switchyard-id': randomUUID(), 'content-type': 'application/octet-stream' },
  }
}

class SwitchyardKafkaClient implements BenchClient {
  readonly side = 'switchyard' as const
  readonly #transport = new KafkaTransport({
    brokers: kafkaConnection.brokers,
    clientId: 'bench-switchyard',
    partitions,
    sessionTimeoutMs: settings.sessionTimeout,
    heartbeatIntervalMs: settings.heartbeatInterval,
    maxWaitTimeMs: settings.maxWaitTimeInMs,
    maxBytesPerPartition: settings.maxBytesPerPartition,
    commitIntervalMs: settings.commitIntervalMs,
  })
  readonly #bus = new Bus(this.#transport, { codec: bytesCodec })
  readonly #admin: Admin = new Kafka({
    brokers: kafkaConnection.brokers,
    clientId: 'bench-admin',
    logLevel: logLevel.NOTHING,
  }).admin()
  #adminConnected = false
  readonly #created = new Set<string>()

  async prepare(topic: string, group: string): Promise<void> {
    // Created through the admin client as on the raw side (3 partitions, what the transport would
    // create): letting the transport create it fails now and then (see the bench report).
    await this.#connectAdmin()
    await createTopic(this.#admin, topic)
    await this.#transport.provision(topic, { groups: [group] })
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
    return consumeWithBus(this.#bus, topic, { group, fromBeginning: true }, concurrency, onMessage)
  }

  cleanup(topic: string): Promise<void> {
    this.#created.add(topic)
    return Promise.resolve()
  }

  async close(): Promise<void> {
    await this.#bus.close({ drain: false })
    if (!this.#adminConnected) return
    await deleteTopics(this.#admin, this.#created)
    await this.#admin.disconnect()
  }

  async #connectAdmin(): Promise<void> {
    if (this.#adminConnected) return
    await this.#admin.connect()
    this.#adminConnected = true
  }
}

class RawKafkaClient implements BenchClient {
  readonly side = 'raw' as const
  readonly #kafka = new Kafka({
    brokers: kafkaConnection.brokers,
    clientId: 'bench-raw',
    logLevel: logLevel.NOTHING,
  })
  readonly #admin = this.#kafka.admin()
  readonly #producer: Producer = this.#kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
  })
  #connected: Promise<void> | undefined
  readonly #created = new Set<string>()

  async prepare(topic: string): Promise<void> {
    await this.#connect()
    await createTopic(this.#admin, topic)
  }

  async publishOne(topic: string, payload: Uint8Array): Promise<void> {
    await this.#producer.send({ topic, acks: -1, messages: [rawRecord(payload)] })
  }

  async publishBatch(topic: string, payloads: readonly Uint8Array[]): Promise<void> {
    await this.#producer.sendBatch({
      acks: -1,
      topicMessages: [{ topic, messages: payloads.map(rawRecord) }],
    })
  }

  async consume(
    topic: string,
    group: string,
    concurrency: number,
    onMessage: (payload: Uint8Array) => void,
  ): Promise<ConsumerHandle> {
    const consumer = this.#kafka.consumer({
      groupId: group,
      sessionTimeout: settings.sessionTimeout,
      heartbeatInterval: settings.heartbeatInterval,
      maxWaitTimeInMs: settings.maxWaitTimeInMs,
      maxBytesPerPartition: settings.maxBytesPerPartition,
      allowAutoTopicCreation: false,
    })
    let ready: () => void = () => undefined
    const isReady = new Promise<void>((resolve) => {
      ready = resolve
    })
    consumer.on(consumer.events.FETCH, () => ready())
    await consumer.connect()
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    // Concurrency 1: handled synchronously; more: an asynchronous handler doing nothing, as on the Bus side.
    const handler = async (value: Buffer | null): Promise<void> => {
      await done
      if (value !== null) onMessage(value)
    }
    await consumer.run({
      autoCommit: true,
      autoCommitInterval: settings.commitIntervalMs,
      eachBatchAutoResolve: true,
      partitionsConsumedConcurrently: 1,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        const messages = batch.messages
        for (let i = 0; i < messages.length && isRunning() && !isStale(); i += concurrency) {
          const slice = messages.slice(i, i + concurrency)
          if (concurrency === 1) {
            const value = (slice[0] as (typeof messages)[number]).value
            if (value !== null) onMessage(value)
          } else await Promise.all(slice.map((m) => handler(m.value)))
          resolveOffset((slice.at(-1) as (typeof messages)[number]).offset)
        }
        await heartbeat()
      },
    })
    await isReady
    return { stop: () => consumer.disconnect() }
  }

  cleanup(topic: string): Promise<void> {
    this.#created.add(topic)
    return Promise.resolve()
  }

  async close(): Promise<void> {
    if (this.#connected === undefined) return
    await this.#producer.disconnect()
    await deleteTopics(this.#admin, this.#created)
    await this.#admin.disconnect()
  }

  #connect(): Promise<void> {
    this.#connected ??= Promise.all([this.#producer.connect(), this.#admin.connect()]).then(() => undefined)
    return this.#connected
  }
}

/** The Kafka pair: `switchyard` is the Bus over KafkaTransport, `raw` kafkajs with the same settings. */
export function kafkaClient(side: Side): Promise<BenchClient> {
  return Promise.resolve(side === 'switchyard' ? new SwitchyardKafkaClient() : new RawKafkaClient())
}
