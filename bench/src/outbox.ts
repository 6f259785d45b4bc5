/**
 * Transactional outbox throughput (`@switchyard/postgres`) on each transport named on the command
 * line (default: memory), against the broker manager's PostgreSQL (127.0.0.1:5442):
 *
 * - **write**: what the application pays — 20,000 events written with `outbox.publishBatch`, 100 per
 *   transaction, and 2,000 single-event transactions from 16 concurrent clients;
 * - **relay**: 20,000 committed rows published by one `OutboxRelay` and marked sent (batch 100 and
 *   1,000), rows/s from start until the table has no pending row;
 * - **direct**: the same 20,000 events published straight with `bus.publishBatch` in the same batch
 *   sizes — the relay's ceiling (the outbox has no raw-client equivalent; the raw clients' own publish
 *   rates are in the throughput tables above).
 *
 * `node bench/dist/outbox.js memory kafka rabbitmq redis nats` (brokers under the brokers lock, as
 * every broker command). Bounded: each phase stops after 60 s. Not part of the tests.
 */
import { performance } from 'node:perf_hooks'
import {
  kafkaConnection,
  natsConnection,
  postgresConnection,
  rabbitmqConnection,
  redisConnection,
} from '@switchyard/brokers'
import { Bus, type Transport } from '@switchyard/core'
import { KafkaTransport } from '@switchyard/kafka'
import { MemoryTransport } from '@switchyard/memory'
import { NatsTransport } from '@switchyard/nats'
import { PostgresOutbox } from '@switchyard/postgres'
import { RabbitMqTransport } from '@switchyard/rabbitmq'
import { RedisTransport } from '@switchyard/redis'
import pg from 'pg'

const makers: Record<string, () => Transport> = {
  memory: () => new MemoryTransport(),
  rabbitmq: () => new RabbitMqTransport({ url: rabbitmqConnection.url }),
  kafka: () => new KafkaTransport({ brokers: kafkaConnection.brokers, clientId: 'bench-outbox' }),
  redis: () => new RedisTransport({ url: redisConnection.url, prefix: 'bench-outbox:' }),
  nats: () => new NatsTransport({ servers: natsConnection.servers, name: 'bench-outbox' }),
}

const events = 20_000
const singles = 2_000
const clients = 16
const maxMs = 60_000
const payload = (i: number) => ({
  id: `talent-${i}`,
  name: 'Ada Lovelace',
  skills: ['math', 'engines'],
  n: i,
})

const rate = (n: number, ms: number): string => Math.round((n * 1000) / ms).toLocaleString('en-US')

async function withinLimit<T>(what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${maxMs} ms`)), maxMs)
  })
  try {
    return await Promise.race([work, limit])
  } finally {
    clearTimeout(timer)
  }
}

async function fill(pool: pg.Pool, outbox: PostgresOutbox, topic: string): Promise<number> {
  const started = performance.now()
  for (let tx = 0; tx < events / 100; tx += 1) {
    const client = await pool.connect()
    try {
      await client.query('BEGIN')
      await outbox.publishBatch(
        client,
        Array.from({ length: 100 }, (_, i) => ({ topic, key: `k${i % 16}`, payload: payload(tx * 100 + i) })),
      )
      await client.query('COMMIT')
    } finally {
      client.release()
    }
  }
  return performance.now() - started
}

async function run(name: string, pool: pg.Pool): Promise<void> {
  const make = makers[name]
  if (make === undefined) throw new Error(`unknown transport ${name}; use ${Object.keys(makers).join(', ')}`)
  const transport = make()
  const bus = new Bus(transport)
  const schema = `sy_bench_${Date.now().toString(36)}`
  const topic = `bench.outbox.${Date.now().toString(36)}`
  await transport.provision(topic, { groups: ['bench-outbox'] })
  await pool.query(`CREATE SCHEMA "${schema}"`)
  try {
    const outbox = new PostgresOutbox({ schema })
    await outbox.migrate(pool)

    const batchMs = await withinLimit('write', fill(pool, outbox, topic))
    let next = 0
    const singleStarted = performance.now()
    await withinLimit(
      'single writes',
      Promise.all(
        Array.from({ length: clients }, async () => {
          while (next < singles) {
            next += 1
            const client = await pool.connect()
            try {
              await client.query('BEGIN')
              await outbox.publish(client, topic, payload(next), { key: `k${next % 16}` })
              await client.query('COMMIT')
            } finally {
              client.release()
            }
          }
        }),
      ),
    )
    const singleMs = performance.now() - singleStarted
    console.log(`| ${name} | write, 100 per transaction | ${events} | ${rate(events, batchMs)} rows/s | |`)
    console.log(
      `| ${name} | write, 1 per transaction, ${clients} clients | ${singles} | ${rate(singles, singleMs)} tx/s | |`,
    )
    await pool.query(`TRUNCATE ${outbox.table}`)

    for (const batchSize of [100, 1_000]) {
      await fill(pool, outbox, topic)
      const started = performance.now()
      const relay = outbox.relay({ pool, bus, batchSize, pollIntervalMs: 5 })
      try {
        await withinLimit(
          'relay',
          (async () => {
            // The relay's own count, not a count(*) query: polling the table would load the database.
            while (relay.status().published < events) await new Promise((r) => setTimeout(r, 1))
          })(),
        )
      } finally {
        await relay.stop()
      }
      const relayMs = performance.now() - started
      await pool.query(`TRUNCATE ${outbox.table}`)

      const directStarted = performance.now()
      await withinLimit(
        'direct',
        (async () => {
          for (let i = 0; i < events; i += batchSize) {
            await bus.publishBatch(
              Array.from({ length: batchSize }, (_, j) => ({
                topic,
                key: `k${(i + j) % 16}`,
                payload: payload(i + j),
              })),
            )
          }
        })(),
      )
      const directMs = performance.now() - directStarted
      console.log(
        `| ${name} | relay, batch ${batchSize} | ${events} | ${rate(events, relayMs)} rows/s | ${(directMs / relayMs).toFixed(2)}× of direct |`,
      )
      console.log(
        `| ${name} | direct publishBatch, batch ${batchSize} | ${events} | ${rate(events, directMs)} msg/s | 1.00× |`,
      )
    }
  } finally {
    await bus.close({ drain: false })
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    await transport.deprovision(topic, { groups: ['bench-outbox'] }).catch(() => {})
    await transport.close({ drain: false })
  }
}

const { host, port, user, password, database } = postgresConnection
const pool = new pg.Pool({ host, port, user, password, database, max: clients + 2 })
const names = process.argv.slice(2)
console.log('| transport | phase | events | rate | relay vs direct |')
console.log('| --- | --- | --- | --- | --- |')
try {
  for (const name of names.length === 0 ? ['memory'] : names) await run(name, pool)
} finally {
  await pool.end()
}
