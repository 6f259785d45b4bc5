/**
 * Redis benchmark clients: Switchyard's `Bus` over `RedisTransport`, and raw node-redis doing the
 * same work — a stream per topic, a consumer group created before publishing, `XADD` pipelined
 * (a batch is written at once, then every reply awaited), `XREADGROUP … BLOCK` on a dedicated
 * connection with COUNT = the room left under the concurrency, and `XACK` of what was handled,
 * the acks of one tick sent as one command (what a hand-written consumer does).
 *
 * Streams are deleted after each case; that is not measured.
 */
import { randomUUID } from 'node:crypto'
import { redisConnection } from '@switchyard/brokers'
import { Bus, bytesCodec } from '@switchyard/core'
import { RedisTransport } from '@switchyard/redis'
import { createClient, RESP_TYPES } from 'redis'
import { consumeWithBus } from './bus-consumer.js'
import type { BenchClient, ConsumerHandle, Side } from './client.js'

const done: Promise<void> = Promise.resolve()
const contentTypeJson = JSON.stringify({ 'content-type': 'application/octet-stream' })

/**
 * The fields of one raw entry: `payload` only, what a hand-written producer writes. With
 * `SWITCHYARD_BENCH_RAW_METADATA=1` (an experiment, off in `npm run bench`) also the fields
 * Switchyard writes on every entry (`id`, `ts`, `headers` with the content type), to separate the
 * cost of those bytes at the server from the cost of the Switchyard layer.
 */
function rawFields(payload: Uint8Array): Record<string, string | Buffer> {
  if (process.env.SWITCHYARD_BENCH_RAW_METADATA !== '1') return { payload: asBuffer(payload) }
  return { id: randomUUID(), ts: String(Date.now()), headers: contentTypeJson, payload: asBuffer(payload) }
}
const buffers = { typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer } } as const
const newClient = () => createClient({ url: redisConnection.url, RESP: 2 })
type Client = ReturnType<typeof newClient>

/** One connection for deleting streams after a case. */
async function deleteStream(key: string): Promise<void> {
  const client = newClient()
  await client.connect()
  try {
    await client.del(key)
  } finally {
    client.destroy()
  }
}

class SwitchyardRedisClient implements BenchClient {
  readonly side = 'switchyard' as const
  readonly #transport = new RedisTransport({ url: redisConnection.url, prefix: 'bench-sy:' })
  readonly #bus = new Bus(this.#transport, { codec: bytesCodec })

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
    return deleteStream(this.#transport.streamKey(topic))
  }

  async close(): Promise<void> {
    await this.#bus.close({ drain: false })
  }
}

class RawRedisClient implements BenchClient {
  readonly side = 'raw' as const
  #client: Promise<Client> | undefined

  async prepare(topic: string, group: string): Promise<void> {
    const client = await this.#connection()
    await client.xGroupCreate(this.#key(topic), group, '$', { MKSTREAM: true }).catch((error: Error) => {
      if (!error.message.startsWith('BUSYGROUP')) throw error
    })
  }

  async publishOne(topic: string, payload: Uint8Array): Promise<void> {
    const client = await this.#connection()
    await client.xAdd(this.#key(topic), '*', rawFields(payload))
  }

  async publishBatch(topic: string, payloads: readonly Uint8Array[]): Promise<void> {
    const client = await this.#connection()
    const key = this.#key(topic)
    await Promise.all(payloads.map((payload) => client.xAdd(key, '*', rawFields(payload))))
  }

  async consume(
    topic: string,
    group: string,
    concurrency: number,
    onMessage: (payload: Uint8Array) => void,
  ): Promise<ConsumerHandle> {
    const main = await this.#connection()
    const reader = main.duplicate()
    await reader.connect()
    const key = this.#key(topic)
    let stopped = false
    let inFlight = 0
    let acks: string[] = []
    let wake: (() => void) | undefined
    const flush = (): void => {
      const ids = acks
      acks = []
      void main.xAck(key, group, ids)
    }
    const settle = (id: string, fields: Buffer[]): void => {
      onMessage(fields[1] as Buffer)
      if (acks.length === 0) queueMicrotask(flush)
      acks.push(id)
      inFlight--
      wake?.()
    }
    const loop = async (): Promise<void> => {
      while (!stopped) {
        if (inFlight >= concurrency) {
          await new Promise<void>((resolve) => {
            wake = resolve
          })
          wake = undefined
          continue
        }
        const reply = (await reader.sendCommand(
          [
            'XREADGROUP',
            'GROUP',
            group,
            'raw',
            'COUNT',
            String(concurrency - inFlight),
            'BLOCK',
            '1000',
          ].concat(['STREAMS', key, '>']),
          buffers,
        )) as [Buffer, [Buffer, Buffer[]][]][] | null
        for (const [id, fields] of reply?.[0]?.[1] ?? []) {
          inFlight++
          const entry = id.toString('latin1')
          if (concurrency === 1) settle(entry, fields)
          else void done.then(() => settle(entry, fields))
        }
      }
    }
    const running = loop().catch(() => undefined)
    return {
      stop: async () => {
        stopped = true
        wake?.()
        reader.destroy()
        await running
      },
    }
  }

  async cleanup(topic: string): Promise<void> {
    await deleteStream(this.#key(topic))
  }

  async close(): Promise<void> {
    if (this.#client !== undefined) (await this.#client).destroy()
  }

  #key(topic: string): string {
    return `bench-raw:${topic}`
  }

  #connection(): Promise<Client> {
    this.#client ??= (async () => {
      const client = newClient()
      await client.connect()
      return client
    })()
    return this.#client
  }
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/** The Redis pair: `switchyard` is the Bus over RedisTransport, `raw` node-redis with the same work. */
export function redisClient(side: Side): Promise<BenchClient> {
  return Promise.resolve(side === 'switchyard' ? new SwitchyardRedisClient() : new RawRedisClient())
}
