import { describe, expect, it } from 'vitest'
import { delayBucket, Naming } from '../naming.js'

describe('Naming', () => {
  it('names the exchanges and queues from the prefix', () => {
    const n = new Naming('app')
    expect(n.exchange).toBe('app.topics')
    expect(n.delayExchange).toBe('app.delay')
    expect(n.groupQueue('orders.created', 'billing')).toBe('app:orders.created:billing')
    expect(n.groupQueue('orders.*', 'audit')).toBe('app:orders.*:audit')
    expect(n.delayQueue(1024)).toBe('app.delay.1024')
  })

  it('keeps distinct (topic, group) pairs apart', () => {
    const n = new Naming('p')
    expect(n.groupQueue('a.b', 'c')).not.toBe(n.groupQueue('a', 'b.c'))
  })

  it('shortens names over 255 bytes with a hash, distinct per pair', () => {
    const n = new Naming('switchyard')
    const topic = 't'.repeat(200)
    const a = n.groupQueue(topic, 'g'.repeat(200))
    const b = n.groupQueue(topic, `${'g'.repeat(199)}h`)
    expect(Buffer.byteLength(a)).toBeLessThanOrEqual(255)
    expect(a).toMatch(/~[0-9a-f]{16}$/)
    expect(a).not.toBe(b)
  })
})

describe('delayBucket', () => {
  it('keeps small delays and rounds larger ones up by at most 12.5%', () => {
    expect(delayBucket(0)).toBe(1)
    expect(delayBucket(16)).toBe(16)
    expect(delayBucket(1000)).toBe(1024)
    expect(delayBucket(500)).toBe(512)
    for (const ms of [17, 99, 1001, 12_345, 30_000, 86_400_000]) {
      const bucket = delayBucket(ms)
      expect(bucket).toBeGreaterThanOrEqual(ms)
      expect(bucket).toBeLessThanOrEqual(ms * 1.125)
    }
  })

  it('uses at most 8 buckets per doubling', () => {
    const buckets = new Set<number>()
    for (let ms = 1025; ms <= 2048; ms++) buckets.add(delayBucket(ms))
    expect(buckets.size).toBe(8)
  })
})
