/**
 * The transactional outbox against the real PostgreSQL of `@switchyard/brokers`, publishing
 * through each transport (memory, Kafka, RabbitMQ, Redis, NATS): committed rows are published,
 * once, in order per key, rolled-back rows never; of two relays one is active, and when its
 * database session is killed in the middle of the stream the other takes over with nothing lost
 * and at most one batch published twice.
 */
import { expectSwitchyardError, uniqueName, waitFor } from '@switchyard/contract'
import { Bus, type Transport } from '@switchyard/core'
import { describe, expect, it } from 'vitest'
import { type OutboxRelay, PostgresOutbox } from '../index.js'
import { inTransaction, postgresFixtures, type TransportTarget, targets } from './postgres-fixtures.js'

interface Event {
  readonly key: string
  readonly seq: number
  readonly rolledBack?: boolean
}

interface Received {
  readonly id: string
  readonly key: string | undefined
  readonly payload: Event
}

describe.each(targets)('outbox relay on $name', (target: TransportTarget) => {
  const f = postgresFixtures()

  /** A producer and a consumer transport (one transport on memory, where two would not meet). */
  async function pair(topic: string): Promise<[Transport, Transport]> {
    const producer = await f.transport(target, [topic])
    const consumer = target.shared ? await f.transport(target, []) : producer
    return [producer, consumer]
  }

  /** Subscribes a group and records every delivery. */
  async function consume(transport: Transport, topic: string, group: string): Promise<Received[]> {
    const received: Received[] = []
    const bus = new Bus(transport)
    f.cleanups.push(() => bus.close({ drain: false }))
    const sub = bus.handle<Event>(topic, { group, concurrency: 1 }, (m) => {
      received.push({ id: m.id, key: m.key, payload: m.payload })
    })
    await sub.ready
    return received
  }

  function relayOf(outbox: PostgresOutbox, transport: Transport, batchSize: number): OutboxRelay {
    const bus = new Bus(transport)
    const relay = outbox.relay({ pool: f.pool(2), bus, batchSize, pollIntervalMs: 100, lockRetryMs: 100 })
    f.cleanups.push(async () => {
      await relay.stop()
      await bus.close({ drain: false })
    })
    return relay
  }

  /** A topic with a consuming group, a fresh outbox table in a schema of its own, and a pool. */
  async function setup(prefix: string) {
    const topic = uniqueName(prefix)
    const group = uniqueName('g')
    const [producer, consumer] = await pair(topic)
    await producer.provision(topic, { groups: [group] })
    const received = await consume(consumer, topic, group)
    const pool = f.pool()
    const outbox = new PostgresOutbox({ schema: await f.schema() })
    await outbox.migrate(pool)
    return { topic, producer, received, pool, outbox }
  }

  it('publishes committed rows once each, in order per key, and never a rolled-back row', async () => {
    const { topic, producer, received, pool, outbox } = await setup('outbox-commit')

    const keys = ['k0', 'k1', 'k2', 'k3', 'k4']
    const next = new Map(keys.map((k) => [k, 0]))
    const committed = new Set<string>()
    // 20 committed transactions of 25 events (single publishes and batches), 5 rolled back.
    for (let tx = 0; tx < 25; tx += 1) {
      const rollback = tx % 5 === 4
      const ids: string[] = []
      await inTransaction(
        pool,
        async (client) => {
          const entries = Array.from({ length: 25 }, (_, i) => {
            const key = keys[(tx + i) % keys.length] as string
            const seq = rollback ? -1 : (next.get(key) as number)
            if (!rollback) next.set(key, seq + 1)
            return { topic, key, payload: { key, seq, rolledBack: rollback } }
          })
          for (const entry of entries.slice(0, 5)) {
            ids.push(await outbox.publish(client, topic, entry.payload, { key: entry.key }))
          }
          ids.push(...(await outbox.publishBatch(client, entries.slice(5))))
        },
        rollback,
      )
      if (!rollback) for (const id of ids) committed.add(id)
    }
    expect(await outbox.pending(pool)).toMatchObject({ pending: 500 })

    const relay = relayOf(outbox, producer, 50)
    await waitFor(() => received.length >= 500, {
      timeoutMs: 60_000,
      description: () => `500 outbox rows consumed, saw ${received.length}`,
    })
    await waitFor(async () => (await outbox.pending(pool)).pending === 0, {
      timeoutMs: 10_000,
      description: 'every row marked sent',
    })
    await relay.stop()

    expect(received.some((r) => r.payload.rolledBack)).toBe(false)
    expect(new Set(received.map((r) => r.id))).toEqual(committed)
    expect(received).toHaveLength(500)
    for (const key of keys) {
      const seqs = received.filter((r) => r.key === key).map((r) => r.payload.seq)
      expect(seqs).toEqual(Array.from({ length: next.get(key) as number }, (_, i) => i))
    }
    expect(relay.status()).toMatchObject({ published: 500, batches: 10, active: false })
    const { rows } = await pool.query(
      `SELECT count(*)::int AS n FROM ${outbox.table} WHERE sent_at IS NOT NULL`,
    )
    expect(rows[0]?.n).toBe(500)
  }, 120_000)

  it('of two relays one is active; when its session is killed mid-stream the other takes over: nothing lost, at most one batch twice', async () => {
    const { topic, producer, received, pool, outbox } = await setup('outbox-takeover')
    const total = 2_000
    const batchSize = 100
    for (let tx = 0; tx < 20; tx += 1) {
      await inTransaction(pool, async (client) => {
        await outbox.publishBatch(
          client,
          Array.from({ length: total / 20 }, (_, i) => ({
            topic,
            key: `k${i % 8}`,
            payload: { key: `k${i % 8}`, seq: tx * 100 + i },
          })),
        )
      })
    }

    const relays = [relayOf(outbox, producer, batchSize), relayOf(outbox, producer, batchSize)]
    await waitFor(() => received.length >= 300, {
      timeoutMs: 60_000,
      description: () => `300 rows consumed before the kill, saw ${received.length}`,
    })
    // The lock is one session's: exactly one relay holds it.
    const holders = await pool.query<{ pid: number }>(
      "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    expect(holders.rows).toHaveLength(1)
    expect(relays.filter((r) => r.status().active)).toHaveLength(1)
    const first = relays.find((r) => r.status().active) as OutboxRelay
    const publishedBeforeKill = first.status().published
    await pool.query('SELECT pg_terminate_backend($1)', [holders.rows[0]?.pid])

    await waitFor(() => new Set(received.map((r) => r.id)).size >= total, {
      timeoutMs: 90_000,
      description: () => `${total} distinct rows consumed, saw ${new Set(received.map((r) => r.id)).size}`,
    })
    await waitFor(async () => (await outbox.pending(pool)).pending === 0, {
      timeoutMs: 10_000,
      description: 'every row marked sent',
    })
    const duplicates = received.length - total
    expect(duplicates).toBeGreaterThanOrEqual(0)
    expect(duplicates).toBeLessThanOrEqual(batchSize)
    // Both relays together published every row, plus the duplicates.
    const published = relays.reduce((n, r) => n + r.status().published, 0)
    expect(published).toBeGreaterThanOrEqual(total)
    expect(publishedBeforeKill).toBeLessThan(total)
    console.info(
      `[outbox takeover on ${target.name}] ${total} rows, ${new Set(received.map((r) => r.id)).size} distinct consumed, ${duplicates} duplicates (batch ${batchSize})`,
    )
  }, 180_000)
})

describe('outbox rows', () => {
  const f = postgresFixtures()

  it('store what publish and publishBatch were given: id, key, headers, priority, payload', async () => {
    const pool = f.pool()
    const outbox = new PostgresOutbox({ schema: await f.schema() })
    await outbox.migrate(pool)
    await inTransaction(pool, async (client) => {
      await outbox.publish(
        client,
        'jobs',
        { n: 1 },
        { id: 'one', key: 'k', headers: { a: 'b' }, priority: 7 },
      )
      await outbox.publishBatch(client, [
        { topic: 'jobs', payload: [1, 2], id: 'two', priority: 0 },
        { topic: 'jobs', payload: 'text', id: 'three' },
      ])
    })
    const { rows } = await pool.query(
      `SELECT id, topic, key, headers, priority, payload FROM ${outbox.table} ORDER BY position`,
    )
    expect(rows).toEqual([
      { id: 'one', topic: 'jobs', key: 'k', headers: { a: 'b' }, priority: 7, payload: { n: 1 } },
      { id: 'two', topic: 'jobs', key: null, headers: {}, priority: 0, payload: [1, 2] },
      { id: 'three', topic: 'jobs', key: null, headers: {}, priority: null, payload: 'text' },
    ])
    await expectSwitchyardError(
      inTransaction(pool, (client) =>
        outbox.publish(client, 'jobs', 1, { priority: 10 }).then(() => undefined),
      ),
      'ConfigError',
    )
  })
})
