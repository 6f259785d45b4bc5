import { describe, expect, it } from 'vitest'
import { PartitionFlow } from '../partition-flow.js'

const drain = <R>(flow: PartitionFlow<R>) => {
  const out = []
  for (let e = flow.take(); e !== undefined; e = flow.take()) out.push(e)
  return out
}

describe('PartitionFlow commit point', () => {
  it('is undefined before anything is received', () => {
    expect(new PartitionFlow().commitPoint()).toBeUndefined()
  })

  it('never passes an unsettled offset when acks come out of order', () => {
    const flow = new PartitionFlow<string>()
    for (let o = 0; o < 4; o++) flow.receive(o, undefined, `m${o}`)
    const [e0, e1, e2, e3] = drain(flow)
    expect(flow.commitPoint()).toBe(0)
    flow.settle(e0!)
    flow.settle(e2!)
    flow.settle(e3!)
    expect(flow.commitPoint()).toBe(1)
    flow.settle(e1!)
    expect(flow.commitPoint()).toBe(4)
    expect(flow.inFlight).toBe(0)
  })

  it('holds the commit point at a requeued record and at one taken but not settled', () => {
    const flow = new PartitionFlow<string>()
    for (let o = 10; o < 13; o++) flow.receive(o, undefined, `m${o}`)
    const [a, b, c] = drain(flow)
    flow.settle(a!)
    flow.requeue(b!)
    expect(flow.commitPoint()).toBe(11)
    const again = flow.take()
    expect(again?.offset).toBe(11)
    expect(again?.attempt).toBe(2)
    flow.settle(again!)
    expect(flow.commitPoint()).toBe(12)
    flow.settle(c!)
    expect(flow.commitPoint()).toBe(13)
  })

  it('skips offsets already received (re-fetch after a rebalance)', () => {
    const flow = new PartitionFlow<string>()
    expect(flow.receive(5, undefined, 'a')).toBeDefined()
    expect(flow.receive(6, undefined, 'b')).toBeDefined()
    expect(flow.receive(5, undefined, 'a')).toBeUndefined()
    expect(flow.receive(6, undefined, 'b')).toBeUndefined()
    expect(flow.receive(7, undefined, 'c')?.offset).toBe(7)
    expect(drain(flow).map((e) => e.offset)).toEqual([5, 6, 7])
  })

  it('compacts its log without losing the commit point over many records', () => {
    const flow = new PartitionFlow<number>()
    for (let o = 0; o < 5000; o++) flow.receive(o, undefined, o)
    const all = drain(flow)
    for (const e of all.slice(0, 4999)) flow.settle(e)
    expect(flow.commitPoint()).toBe(4999)
    flow.settle(all[4999]!)
    expect(flow.commitPoint()).toBe(5000)
  })

  it('moves the commit point on settle alone, in and out of order, and keeps receiving after', () => {
    const flow = new PartitionFlow<number>()
    for (let o = 0; o < 3000; o++) flow.receive(o, undefined, o)
    const all = drain(flow)
    // Every other one first, then the rest backwards: the point waits for the lowest.
    for (let i = 1; i < all.length; i += 2) flow.settle(all[i]!)
    expect(flow.commitPoint()).toBe(0)
    for (let i = all.length - 2; i >= 2; i -= 2) flow.settle(all[i]!)
    expect(flow.commitPoint()).toBe(0)
    flow.settle(all[0]!)
    expect(flow.commitPoint()).toBe(3000)
    flow.receive(3000, undefined, 3000)
    expect(flow.commitPoint()).toBe(3000)
    flow.settle(drain(flow)[0]!)
    expect(flow.commitPoint()).toBe(3001)
  })
})

describe('PartitionFlow per-key hold-back', () => {
  it('delivers one record per key at a time, in offset order, while other keys flow', () => {
    const flow = new PartitionFlow<string>()
    flow.receive(0, 'a', 'a0')
    flow.receive(1, 'a', 'a1')
    flow.receive(2, 'b', 'b0')
    flow.receive(3, undefined, 'x')
    flow.receive(4, 'a', 'a2')
    const first = drain(flow)
    expect(first.map((e) => e.record)).toEqual(['a0', 'b0', 'x'])
    expect(flow.heldCount).toBe(2)
    // settle says whether it made a held-back record ready (only then is there more to deliver).
    expect(flow.settle(first[1]!)).toBe(false)
    expect(flow.settle(first[2]!)).toBe(false)
    expect(flow.settle(first[0]!)).toBe(true)
    const second = drain(flow)
    expect(second.map((e) => e.record)).toEqual(['a1'])
    expect(flow.settle(second[0]!)).toBe(true)
    expect(drain(flow).map((e) => e.record)).toEqual(['a2'])
    expect(flow.heldCount).toBe(0)
  })

  it('keeps the key taken while a record is requeued, so later records of the key wait', () => {
    const flow = new PartitionFlow<string>()
    flow.receive(0, 'k', 'k0')
    flow.receive(1, 'k', 'k1')
    const [k0] = drain(flow)
    flow.requeue(k0!)
    expect(drain(flow).map((e) => e.record)).toEqual(['k0'])
    flow.settle(k0!)
    expect(drain(flow).map((e) => e.record)).toEqual(['k1'])
  })

  it('keeps a key held while its record is unsettled (as during a delay the core holds in process)', () => {
    const flow = new PartitionFlow<string>()
    flow.receive(0, 'k', 'k0')
    flow.receive(1, 'k', 'k1')
    flow.receive(2, 'j', 'j2')
    const first = drain(flow)
    expect(first.map((e) => e.record)).toEqual(['k0', 'j2'])
    expect(flow.heldCount).toBe(1)
    flow.settle(first[1]!)
    expect(flow.take()).toBeUndefined()
    expect(flow.commitPoint()).toBe(0)
    flow.settle(first[0]!)
    expect(drain(flow).map((e) => e.record)).toEqual(['k1'])
    expect(flow.commitPoint()).toBe(1)
  })
})
