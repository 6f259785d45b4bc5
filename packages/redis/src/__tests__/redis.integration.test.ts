/**
 * Redis-specific behaviour beyond the contract suite, against the Switchyard test Redis: takeover
 * of a dead consumer's pending entries (XAUTOCLAIM, attempt from the delivery counter), entries
 * returned to the group on unsubscribe, retention by MAXLEN and MINID, `inspect()` (stream length,
 * group lag with deliveries in flight, consumers, filters), `health()` reading the persistence
 * settings, and refused credentials. Raw node-redis plays the dead consumer and reads
 * the server's state; every stream a test creates is deleted after it.
 */
import { redisConnection, up } from '@switchyard/brokers'
import {
  type Collector,
  collect,
  createMessage,
  expectSwitchyardError,
  uniqueName,
  waitFor,
} from '@switchyard/contract'
import { createClient } from 'redis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { RedisTransportOptions } from '../options.js'
import { RedisTransport } from '../redis-transport.js'

const prefix = 'adapter:'
const raw = createClient({ url: redisConnection.url, RESP: 2 })
const open: RedisTransport[] = []
const collectors: Collector[] = []
const streams = new Set<string>()

function transport(options: RedisTransportOptions = {}): RedisTransport {
  const t = new RedisTransport({ url: redisConnection.url, prefix, ...options })
  open.push(t)
  return t
}

function topic(name: string): string {
  const t = uniqueName(name)
  streams.add(prefix + t)
  return t
}

beforeAll(async () => {
  await up('redis')
  await raw.connect()
}, 120_000)

afterEach(async () => {
  for (const c of collectors.splice(0)) c.stop()
  await Promise.all(open.splice(0).map((t) => t.close({ drain: false, timeoutMs: 2_000 })))
  if (streams.size > 0) await raw.del([...streams])
  streams.clear()
})

afterAll(async () => {
  raw.destroy()
})

describe('crash recovery', () => {
  it("takes over a dead consumer's pending entries after claimIdleMs, with attempt from the delivery counter", async () => {
    const t = topic('claim')
    const group = 'workers'
    const producer = transport()
    await producer.provision(t, { groups: [group] })
    const sent = Array.from({ length: 20 }, (_, i) => createMessage(t, { key: `k${i % 4}` }))
    await producer.publish(sent)
    // A consumer that read 10 entries and died without acking them.
    const dead = await raw.xReadGroup(group, 'dead-consumer', { key: prefix + t, id: '>' }, { COUNT: 10 })
    expect(dead?.[0]?.messages).toHaveLength(10)
    const deadAt = Date.now()

    const survivor = transport({ claimIdleMs: 500, pollMs: 100 })
    const c = collect(survivor, t, { group, timeoutMs: 10_000 })
    collectors.push(c)
    await c.waitForIds(20)

    const byId = new Map(c.deliveries.map((d) => [d.message.id, d]))
    const claimed = sent.slice(0, 10).map((m) => byId.get(m.id))
    expect(claimed.map((d) => d?.message.attempt)).toEqual(Array(10).fill(2))
    expect(sent.slice(10).map((m) => byId.get(m.id)?.message.attempt)).toEqual(Array(10).fill(1))
    // Not before the entries were idle for claimIdleMs.
    expect(Date.now() - deadAt).toBeGreaterThanOrEqual(500)
    await waitFor(async () => (await raw.xPending(prefix + t, group)).pending === 0, {
      description: 'every entry acked (XPENDING empty)',
    })
  })

  it('returns held entries to the group on unsubscribe: the next consumer gets them at once, attempt 2', async () => {
    const t = topic('return')
    const group = 'workers'
    const producer = transport()
    await producer.provision(t, { groups: [group] })
    const first = transport({ claimIdleMs: 60_000 })
    const holding = collect(first, t, { group, settle: 'hold' })
    collectors.push(holding)
    await holding.ready
    const sent = Array.from({ length: 5 }, () => createMessage(t))
    await producer.publish(sent)
    await holding.waitForIds(5)
    holding.stop()
    await first.whenDetached()
    // The stopped consumer left the group; its entries wait with the parking consumer.
    const consumers = (await raw.xInfoConsumers(prefix + t, group)).map((c) => c.name)
    expect(consumers).toEqual(['switchyard:returned'])

    // claimIdleMs is a minute: only the return on unsubscribe makes them claimable now.
    const next = collect(transport({ claimIdleMs: 60_000 }), t, { group, timeoutMs: 5_000 })
    collectors.push(next)
    await next.waitForIds(5)
    expect(next.deliveries.map((d) => d.message.attempt)).toEqual(Array(5).fill(2))
  })

  it('requeue raises the delivery counter the server keeps (XPENDING) with the attempt', async () => {
    const t = topic('requeue')
    const group = 'workers'
    const producer = transport()
    await producer.provision(t, { groups: [group] })
    let nacks = 0
    const c = collect(transport(), t, {
      group,
      settle: (d) => {
        if (d.message.attempt >= 3) return undefined
        nacks++
        return d.nack()
      },
    })
    collectors.push(c)
    await c.ready
    await producer.publish([createMessage(t)])
    await c.waitForDeliveries(3)
    expect(c.deliveries.map((d) => d.message.attempt)).toEqual([1, 2, 3])
    const [row] = await raw.xPendingRange(prefix + t, group, '-', '+', 10)
    expect(row?.deliveriesCounter).toBe(3)
    expect(nacks).toBe(2)
  })
})

describe('ordered subscriptions', () => {
  it('have one active consumer per group (a lease); a standby takes over when it unsubscribes', async () => {
    const t = topic('ordered')
    const group = 'workers'
    const producer = transport()
    await producer.provision(t, { groups: [group] })
    const members = [transport({ pollMs: 100 }), transport({ pollMs: 100 })].map((m) =>
      collect(m, t, { group, ordered: true, timeoutMs: 5_000 }),
    )
    collectors.push(...members)
    await Promise.all(members.map((m) => m.ready))
    await producer.publish(Array.from({ length: 20 }, (_, i) => createMessage(t, { key: `k${i % 2}` })))
    await waitFor(() => members[0]!.ids.size + members[1]!.ids.size === 20, { description: '20 delivered' })
    const active = members.find((m) => m.ids.size > 0) as Collector
    const standby = members.find((m) => m !== active) as Collector
    expect(active.ids.size).toBe(20)
    expect(standby.ids.size).toBe(0)

    active.stop()
    const later = Array.from({ length: 10 }, () => createMessage(t))
    await producer.publish(later)
    await standby.waitForIds(10)
    expect([...standby.ids].sort()).toEqual(later.map((m) => m.id).sort())
  })
})

describe('retention', () => {
  it('maxLength keeps the newest entries (MAXLEN, exact)', async () => {
    const t = topic('maxlen')
    const producer = transport({ retention: { maxLength: 10, exact: true } })
    const sent = Array.from({ length: 50 }, () => createMessage(t))
    await producer.publish(sent)
    expect(await raw.xLen(prefix + t)).toBe(10)
    const kept = await raw.xRange(prefix + t, '-', '+')
    expect((kept ?? []).map((e) => e?.message.id)).toEqual(sent.slice(40).map((m) => m.id))
  })

  it('maxAgeMs drops entries older than it (MINID from the entry time)', async () => {
    const t = topic('minid')
    // Two entries written an hour ago (explicit ids carry the time).
    const hourAgo = Date.now() - 3_600_000
    await raw.xAdd(prefix + t, `${hourAgo}-0`, { id: 'old-1', payload: 'x' })
    await raw.xAdd(prefix + t, `${hourAgo}-1`, { id: 'old-2', payload: 'x' })
    const producer = transport({ retention: { maxAgeMs: 60_000, exact: true } })
    const fresh = createMessage(t)
    await producer.publish([fresh])
    const kept = await raw.xRange(prefix + t, '-', '+')
    expect((kept ?? []).map((e) => e?.message.id)).toEqual([fresh.id])
  })
})

describe('inspect', () => {
  it('reports length, lag (undelivered + pending) and consumers, without the parking consumer', async () => {
    const t = topic('inspect')
    const producer = transport()
    await producer.provision(t, { groups: ['workers', 'billing.v2'] })
    const sent = Array.from({ length: 10 }, () => createMessage(t))
    await producer.publish(sent)
    const group = (name: string, lag: number | undefined, consumers: number) => ({
      group: name,
      topic: t,
      ...(lag === undefined ? {} : { lag }),
      consumers,
    })
    expect(await producer.inspect?.({ topic: t })).toEqual({
      topics: [{ name: t, messages: 10 }],
      groups: [group('billing.v2', 10, 0), group('workers', 10, 0)],
      complete: true,
      at: expect.any(Number),
    })

    // The consumer holds all 10 (delivered: pending at Redis) and acks 3: 7 unsettled, none undelivered.
    const consumer = transport({ claimIdleMs: 60_000 })
    const c = collect(consumer, t, { group: 'workers', inFlight: 10, settle: 'hold' })
    collectors.push(c)
    await c.waitForDeliveries(10)
    await Promise.all(c.deliveries.slice(0, 3).map((d) => d.ack()))
    expect((await raw.xPending(prefix + t, 'workers')).pending).toBe(7)
    let found = await producer.inspect?.({ topic: t, groups: ['workers'] })
    expect(found?.groups).toEqual([group('workers', 7, 1)])

    // Unsubscribed: its 7 entries wait with the parking consumer, still unsettled; 5 more are undelivered.
    c.stop()
    await consumer.whenDetached()
    expect((await raw.xInfoConsumers(prefix + t, 'workers')).map((x) => x.name)).toEqual([
      'switchyard:returned',
    ])
    await producer.publish(Array.from({ length: 5 }, () => createMessage(t)))
    found = await producer.inspect?.({ topic: t })
    expect(found?.topics).toEqual([{ name: t, messages: 15 }])
    expect(found?.groups).toEqual([group('billing.v2', 15, 0), group('workers', 12, 0)])

    // An entry deleted past a group's last delivered one: Redis cannot tell the lag (nil), so it is absent.
    const [last] = (await raw.xRevRange(prefix + t, '+', '-', { COUNT: 1 })) ?? []
    expect(await raw.xDel(prefix + t, last?.id as string)).toBe(1)
    found = await producer.inspect?.({ topic: t })
    expect(found?.topics).toEqual([{ name: t, messages: 14 }])
    expect(found?.groups).toEqual([group('billing.v2', undefined, 0), group('workers', undefined, 0)])
  })

  it('lists the streams under its prefix only, filters by topic and group, and creates nothing', async () => {
    const a = topic('inspect-a')
    const b = topic('inspect-b')
    const producer = transport()
    await producer.provision(a, { groups: ['workers'] })
    await producer.provision(b, { groups: ['workers', 'audit'] })
    await producer.publish([createMessage(a), createMessage(b), createMessage(b)])
    // Keys that are no topic of this transport: another prefix, a name no topic has, not a stream.
    const others = [`other:${a}`, `${prefix}${a}:x`, `${prefix}${a}-string`]
    for (const key of others) streams.add(key)
    await raw.xAdd(others[0] as string, '*', { n: '1' })
    await raw.xAdd(others[1] as string, '*', { n: '1' })
    await raw.set(others[2] as string, 'x')

    const all = await producer.inspect?.()
    const ours = (name: string) => name === a || name === b
    expect(all?.complete).toBe(true)
    expect(all?.topics.filter((x) => x.name.startsWith(a) || x.name.startsWith(b))).toEqual([
      { name: a, messages: 1 },
      { name: b, messages: 2 },
    ])
    expect(all?.groups.filter((g) => ours(g.topic)).map((g) => `${g.topic}/${g.group}/${g.lag}`)).toEqual([
      `${a}/workers/1`,
      `${b}/audit/2`,
      `${b}/workers/2`,
    ])

    const audit = await producer.inspect?.({ groups: ['audit'] })
    expect(audit?.groups.filter((g) => ours(g.topic))).toEqual([
      { group: 'audit', topic: b, lag: 2, consumers: 0 },
    ])
    expect(audit?.groups.every((g) => g.group === 'audit')).toBe(true)

    const missing = topic('inspect-missing')
    expect(await producer.inspect?.({ topic: missing, groups: ['workers'] })).toMatchObject({
      topics: [],
      groups: [],
      complete: true,
    })
    expect(await raw.exists(prefix + missing)).toBe(0)
  })
})

describe('health and failures', () => {
  it('health() reads the AOF setting and says that accepted entries survive a restart', async () => {
    const t = transport()
    await t.connect()
    const health = await t.health()
    expect(health.status).toBe('up')
    expect(health.details.server).toMatch(/^\d+\.\d+/)
    expect(health.details.persistence).toMatchObject({
      aof: true,
      appendfsync: 'everysec',
      survivesRestart: true,
    })
  })

  it('refused credentials fail connect with AuthenticationError', async () => {
    const t = transport({ username: 'nobody', password: 'wrong' })
    await expectSwitchyardError(t.connect(), 'AuthenticationError')
  })

  it('inspect as an ACL user without +scan is an AuthenticationError naming SCAN, within 5 s', async () => {
    const t = transport({
      username: redisConnection.aclUser,
      password: redisConnection.aclPassword,
      prefix: `${redisConnection.aclKeyPrefix}inspect:`,
    })
    await t.connect()
    const started = Date.now()
    const error = await expectSwitchyardError(() => t.inspect?.(), 'AuthenticationError')
    expect(Date.now() - started).toBeLessThan(5_000)
    expect(error.message).toMatch(/scan/i)
    expect(error.retryable).toBe(false)
  })
})
