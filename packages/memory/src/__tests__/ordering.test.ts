import { describe, expect, it } from 'vitest'
import { message, record, settle, text, unique, until, useTransports } from './helpers.js'

const transport = useTransports()

describe('per-key order', () => {
  it('holds back a message while an earlier one of its key is unsettled, keyless messages flow', async () => {
    const t = transport()
    const topic = unique('keys')
    const r = record(t, topic, { group: 'g', inFlight: 10 })
    await t.publish([
      message(topic, 'a1', { key: 'a' }),
      message(topic, 'a2', { key: 'a' }),
      message(topic, 'b1', { key: 'b' }),
      message(topic, 'free1'),
      message(topic, 'a3', { key: 'a' }),
      message(topic, 'free2'),
    ])
    await settle()
    expect(r.texts()).toEqual(['a1', 'b1', 'free1', 'free2'])

    await r.deliveries[0]?.ack()
    await settle()
    expect(r.texts()).toEqual(['a1', 'b1', 'free1', 'free2', 'a2'])

    await r.deliveries[4]?.ack()
    await settle()
    expect(r.texts()).toEqual(['a1', 'b1', 'free1', 'free2', 'a2', 'a3'])
  })

  it('keeps publish order per key across competing consumers', async () => {
    const t = transport()
    const topic = unique('compete')
    const seen = new Map<string, number[]>()
    const active = new Set<string>()
    let overlaps = 0
    let received = 0
    const consume = () =>
      t.subscribe(topic, { group: 'g', inFlight: 8 }).subscribe((d) => {
        const key = d.message.key as string
        if (active.has(key)) overlaps++
        active.add(key)
        const list = seen.get(key) ?? []
        list.push(Number(text(d).split(':')[1]))
        seen.set(key, list)
        setTimeout(
          () => {
            active.delete(key)
            received++
            void d.ack()
          },
          Math.floor(Math.random() * 3),
        )
      })
    const subs = [consume(), consume(), consume()]
    const batch = []
    for (let i = 0; i < 300; i++) batch.push(message(topic, `k${i % 7}:${i}`, { key: `k${i % 7}` }))
    await t.publish(batch)
    await until(
      () => received === 300,
      5_000,
      () => received,
    )
    for (const sub of subs) sub.unsubscribe()
    expect(overlaps).toBe(0)
    expect(seen.size).toBe(7)
    for (const [key, order] of seen) {
      const expected = batch
        .filter((m) => m.key === key)
        .map((m) => Number(new TextDecoder().decode(m.payload).split(':')[1]))
      expect(order).toEqual(expected)
    }
  })
})

describe('in-flight limit', () => {
  it('never holds more unsettled deliveries than inFlight, and delivers every message once', async () => {
    const t = transport()
    const topic = unique('limit')
    let unsettled = 0
    let maxUnsettled = 0
    let acked = 0
    const ids = new Set<string>()
    const sub = t.subscribe(topic, { group: 'g', inFlight: 3 }).subscribe((d) => {
      ids.add(d.message.id)
      unsettled++
      maxUnsettled = Math.max(maxUnsettled, unsettled)
      setTimeout(() => {
        unsettled--
        acked++
        void d.ack()
      }, 1)
    })
    const batch = Array.from({ length: 200 }, (_, i) =>
      message(topic, `m${i}`, i % 2 ? { key: `k${i % 5}` } : {}),
    )
    await t.publish(batch)
    await until(
      () => acked === 200,
      5_000,
      () => acked,
    )
    sub.unsubscribe()
    expect(maxUnsettled).toBe(3)
    expect(ids.size).toBe(200)
  })

  it('reports in-flight deliveries and lag in health()', async () => {
    const t = transport()
    const topic = unique('health')
    const r = record(t, topic, { group: 'g', inFlight: 2 })
    await t.publish([message(topic, '1'), message(topic, '2'), message(topic, '3'), message(topic, '4')])
    await settle()
    const report = await t.health()
    expect(report).toMatchObject({ status: 'up', kind: 'memory', state: 'connected' })
    expect(report.subscriptions).toEqual([{ topic, group: 'g', inFlight: 2, lag: 2, consumers: 1 }])
    r.subscription.unsubscribe()
  })
})

describe('priority', () => {
  it('delivers higher priorities first but never before an earlier message of the same key', async () => {
    const t = transport()
    const topic = unique('prio')
    await t.provision(topic, { groups: ['g'] })
    await t.publish([
      message(topic, 'low', { priority: 0 }),
      message(topic, 'mid', { priority: 5 }),
      message(topic, 'k-low', { key: 'k', priority: 1 }),
      message(topic, 'k-high', { key: 'k', priority: 9 }),
      message(topic, 'high', { priority: 9 }),
      message(topic, 'clamped', { priority: 42 }),
    ])
    const r = record(t, topic, { group: 'g', inFlight: 1 })
    for (let i = 1; i <= 6; i++) {
      await until(() => r.deliveries.length === i)
      await r.deliveries[i - 1]?.ack()
    }
    expect(r.texts()).toEqual(['high', 'clamped', 'mid', 'k-low', 'k-high', 'low'])
  })
})
