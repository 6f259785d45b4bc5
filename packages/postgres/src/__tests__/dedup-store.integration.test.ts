/**
 * `PostgresDedupStore` against the real PostgreSQL of `@switchyard/brokers`: claims are atomic
 * across connections, tokens guard completion and release, an expired claim can be taken over,
 * the `dedupe` middleware over it runs a handler once per id with two consumers racing, and an
 * unreachable database is a typed, retryable error within seconds.
 */
import { randomUUID } from 'node:crypto'
import { createServer } from 'node:net'
import { expectSwitchyardError, uniqueName, waitFor } from '@switchyard/contract'
import { Bus, type BusEvent, dedupe } from '@switchyard/core'
import pg from 'pg'
import { describe, expect, it } from 'vitest'
import { PostgresDedupStore } from '../index.js'
import { database, postgresFixtures, targets } from './postgres-fixtures.js'

describe('PostgresDedupStore', () => {
  const f = postgresFixtures()

  async function store(db: pg.Pool, schema: string): Promise<PostgresDedupStore> {
    const s = new PostgresDedupStore({ db, schema })
    await s.migrate()
    return s
  }

  it('200 keys claimed at once from two pools: each key is claimed by exactly one of them', async () => {
    const schema = await f.schema()
    const [a, b] = [await store(f.pool(8), schema), await store(f.pool(8), schema)]
    const keys = Array.from({ length: 200 }, (_, i) => `order-${i}`)
    const results = await Promise.all(
      keys.flatMap((key) => [a.claim(key, `a-${key}`, 60_000), b.claim(key, `b-${key}`, 60_000)]),
    )
    for (let i = 0; i < keys.length; i += 1) {
      const pair = [results[2 * i], results[2 * i + 1]].sort()
      expect(pair).toEqual(['claimed', 'in-progress'])
    }
  })

  it('only the claim holder completes or releases; done keys stay done; an expired claim is taken over', async () => {
    const s = await store(f.pool(), await f.schema())
    expect(await s.claim('k', 'first', 60_000)).toBe('claimed')
    // Another token can neither complete nor release the key.
    await s.complete('k', 'other', 60_000)
    await s.release('k', 'other')
    expect(await s.claim('k', 'second', 60_000)).toBe('in-progress')
    await s.complete('k', 'first', 60_000)
    expect(await s.claim('k', 'third', 60_000)).toBe('done')

    expect(await s.claim('r', 'first', 60_000)).toBe('claimed')
    await s.release('r', 'first')
    expect(await s.claim('r', 'second', 60_000)).toBe('claimed')

    expect(await s.claim('lease', 'dies', 50)).toBe('claimed')
    await waitFor(async () => (await s.claim('lease', 'takes-over', 60_000)) === 'claimed', {
      timeoutMs: 5_000,
      description: 'the expired claim taken over',
    })
    // The process that let its lease expire cannot complete the key any more.
    await s.complete('lease', 'dies', 60_000)
    expect(await s.claim('lease', 'later', 60_000)).toBe('in-progress')
  })

  it('dedupe over it: two consumers racing on the same ids run the handler once per id', async () => {
    const schema = await f.schema()
    const memory = targets.find((t) => t.name === 'memory')
    if (memory === undefined) throw new Error('no memory target')
    const topic = uniqueName('dedup-pg')
    const transport = await f.transport(memory, [topic])
    await transport.provision(topic, { groups: ['mail'] })
    const events: BusEvent[] = []
    const runs = new Map<number, number>()
    const consumers = [await store(f.pool(), schema), await store(f.pool(), schema)].map((s) => {
      const bus = new Bus(transport)
      const watching = bus.events$.subscribe((e) => events.push(e))
      f.cleanups.push(async () => {
        watching.unsubscribe()
        await bus.close({ drain: false })
      })
      return bus.handle<number>(
        topic,
        { group: 'mail', concurrency: 8, middleware: [dedupe({ store: s, retryDelayMs: 50 })] },
        async (m) => {
          runs.set(m.payload, (runs.get(m.payload) ?? 0) + 1)
          await new Promise((resolve) => setTimeout(resolve, 5))
        },
      )
    })
    await Promise.all(consumers.map((c) => c.ready))
    const producer = new Bus(transport)
    f.cleanups.push(() => producer.close({ drain: false }))
    const ids = 100
    await producer.publishBatch(
      Array.from({ length: ids * 2 }, (_, i) => ({
        topic,
        payload: i >> 1,
        id: `id-${i >> 1}`,
        key: `k${i % 5}`,
      })),
    )
    const settled = () => events.filter((e) => e.type === 'handled' || e.type === 'dropped').length
    await waitFor(() => settled() >= ids * 2, {
      timeoutMs: 30_000,
      description: () => `${ids * 2} deliveries handled or dropped, saw ${settled()}`,
    })
    expect(runs.size).toBe(ids)
    expect([...runs.values()].every((n) => n === 1)).toBe(true)
    expect(events.filter((e) => e.type === 'dropped')).toHaveLength(ids)
  })

  it('an unreachable database is a BrokerUnavailableError within 5 s, naming postgres', async () => {
    // A port that was just free: nothing listens there.
    const port = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const address = server.address()
        server.close(() => resolve(typeof address === 'object' && address ? address.port : 0))
      })
    })
    const pool = new pg.Pool({ ...database, port, connectionTimeoutMillis: 2_000 })
    pool.on('error', () => {})
    f.cleanups.push(() => pool.end())
    const s = new PostgresDedupStore({ db: pool })
    const began = Date.now()
    const error = await expectSwitchyardError(s.claim(randomUUID(), 't', 1_000), 'BrokerUnavailableError')
    expect(Date.now() - began).toBeLessThan(5_000)
    expect(error.message).toMatch(/^postgres at dedup claim is unavailable: .*ECONNREFUSED/)
    expect(error.retryable).toBe(true)
  })
})
