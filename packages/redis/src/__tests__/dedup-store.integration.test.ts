/**
 * `RedisDedupStore` against the Switchyard test Redis: racing claims from two clients (exactly one
 * wins per key), done and release by token, lease expiry (a crashed holder), and the `dedupe`
 * middleware on two Buses over the Redis transport sharing the store, each id published twice.
 * Every key and stream a test creates is deleted after it.
 */
import { redisConnection, up } from '@switchyard/brokers'
import { uniqueName, waitFor } from '@switchyard/contract'
import { Bus, type BusEvent, dedupe, isSwitchyardError } from '@switchyard/core'
import { createClient } from 'redis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { RedisDedupStore } from '../dedup-store.js'
import { RedisTransport } from '../redis-transport.js'

const first = createClient({ url: redisConnection.url, RESP: 2 })
const second = createClient({ url: redisConnection.url, RESP: 2 })
const cleanups: (() => Promise<unknown>)[] = []

beforeAll(async () => {
  await up('redis')
  await Promise.all([first.connect(), second.connect()])
}, 120_000)

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

afterAll(() => {
  first.destroy()
  second.destroy()
})

/** A store with a prefix of its own; its keys are deleted after the test. */
function storeOn(client: typeof first, prefix: string): RedisDedupStore {
  cleanups.push(async () => {
    const keys = await first.keys(`${prefix}*`)
    if (keys.length > 0) await first.del(keys)
  })
  return new RedisDedupStore({ client, prefix })
}

describe('RedisDedupStore', () => {
  it('gives each of 200 keys to exactly one of two racing clients', async () => {
    const prefix = `${uniqueName('dedup')}:`
    const a = storeOn(first, prefix)
    const b = storeOn(second, prefix)
    const keys = Array.from({ length: 200 }, (_, i) => `k${i}`)
    const results = await Promise.all(
      keys.map((key) => Promise.all([a.claim(key, `a-${key}`, 60_000), b.claim(key, `b-${key}`, 60_000)])),
    )
    for (const pair of results) expect([...pair].sort()).toEqual(['claimed', 'in-progress'])
  })

  it('completes and releases only for the token that holds the claim', async () => {
    const prefix = `${uniqueName('dedup')}:`
    const store = storeOn(first, prefix)
    expect(await store.claim('k', 'a', 60_000)).toBe('claimed')
    await store.complete('k', 'other', 60_000)
    await store.release('k', 'other')
    expect(await store.claim('k', 'b', 60_000)).toBe('in-progress')
    await store.complete('k', 'a', 60_000)
    expect(await store.claim('k', 'b', 60_000)).toBe('done')
    const ttl = await first.pTTL(`${prefix}k`)
    expect(ttl).toBeGreaterThan(0)
    expect(ttl).toBeLessThanOrEqual(60_000)
    expect(await store.claim('r', 'a', 60_000)).toBe('claimed')
    await store.release('r', 'a')
    expect(await store.claim('r', 'b', 60_000)).toBe('claimed')
  })

  it('lets a key be claimed again once the lease of a crashed holder expires', async () => {
    const prefix = `${uniqueName('dedup')}:`
    const store = storeOn(first, prefix)
    expect(await store.claim('k', 'crashed', 50)).toBe('claimed')
    await waitFor(async () => (await first.exists(`${prefix}k`)) === 0, { timeoutMs: 5_000 })
    expect(await store.claim('k', 'next', 60_000)).toBe('claimed')
  })

  it('rejects with BrokerUnavailableError when Redis cannot be reached', async () => {
    const closed = createClient({ url: redisConnection.url, RESP: 2 })
    await closed.connect()
    closed.destroy()
    const store = new RedisDedupStore({ client: closed, prefix: 'never:' })
    let error: unknown
    try {
      await store.claim('k', 't', 1_000)
    } catch (e) {
      error = e
    }
    expect(isSwitchyardError(error, 'BrokerUnavailableError')).toBe(true)
  })

  it('runs the handler once per id when two Buses share the store and every id comes twice', async () => {
    const prefix = `${uniqueName('dedup')}:`
    const topic = uniqueName('dedup.bus')
    const group = 'workers'
    const streamPrefix = 'dedup-test:'
    const transports = [0, 1, 2].map(
      () => new RedisTransport({ url: redisConnection.url, prefix: streamPrefix }),
    )
    cleanups.push(async () => {
      await Promise.all(transports.map((t) => t.close({ drain: false, timeoutMs: 2_000 })))
      await first.del(streamPrefix + topic)
    })
    const [producer, ...consumers] = transports as [RedisTransport, RedisTransport, RedisTransport]
    await producer.provision(topic, { groups: [group] })
    const store = storeOn(first, prefix)
    const runs = new Map<number, number>()
    const events: BusEvent[] = []
    const buses = consumers.map((t, i) => {
      const bus = new Bus(t)
      bus.events$.subscribe((e) => events.push(e))
      cleanups.push(() => bus.close({ drain: false }))
      const middleware = [
        dedupe({
          store: i === 0 ? store : new RedisDedupStore({ client: second, prefix }),
          retryDelayMs: 100,
        }),
      ]
      return bus.handle<number>(topic, { group, concurrency: 8, middleware }, async (m) => {
        runs.set(m.payload, (runs.get(m.payload) ?? 0) + 1)
        await new Promise((resolve) => setTimeout(resolve, 5))
      })
    })
    await Promise.all(buses.map((s) => s.ready))
    const publisher = new Bus(producer)
    cleanups.push(() => publisher.close({ drain: false }))
    const ids = 100
    await publisher.publishBatch(
      Array.from({ length: ids * 2 }, (_, i) => ({
        topic,
        payload: Math.floor(i / 2),
        id: `id-${Math.floor(i / 2)}`,
      })),
    )
    const settled = (): number => events.filter((e) => e.type === 'handled' || e.type === 'dropped').length
    await waitFor(() => settled() >= ids * 2, {
      timeoutMs: 30_000,
      description: () => `settled ${settled()}`,
    })
    expect(runs.size).toBe(ids)
    expect([...runs.values()].every((n) => n === 1)).toBe(true)
    expect(events.filter((e) => e.type === 'dropped')).toHaveLength(ids)
  }, 60_000)
})
