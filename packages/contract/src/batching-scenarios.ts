/**
 * Publish batching scenarios: the loop users write — one `publish` per event, all awaited
 * together — must keep every guarantee of `Transport.publish` whether or not the transport
 * coalesces the calls into broker batches: each call resolves with its own outcome, every message
 * arrives once, per-key order holds across calls, and a bad call fails alone.
 *
 * This module registers tests only; it knows no adapter and never looks at `transport.kind`.
 * Per-key order is asserted on an `ordered` subscription, which every transport keeps (natively
 * where `capabilities.orderedByKey`, with a single active consumer or the core's hold-back elsewhere).
 */
import type { Delivery, OutgoingMessage } from '@switchyard/core'
import { expect, it } from 'vitest'
import { countRedeliveries } from './collect.js'
import type { ContractHarness } from './contract-harness.js'
import { createMessage, payloadText } from './create-message.js'
import { expectSwitchyardError } from './expect-switchyard-error.js'

/** Keys whose first deliveries did not come in publish order (payload `<key>:<seq>`). */
function keysOutOfOrder(arrivals: readonly Delivery[]): string[] {
  const next = new Map<string, number>()
  const seen = new Set<string>()
  const broken = new Set<string>()
  for (const d of arrivals) {
    if (seen.has(d.message.id)) continue
    seen.add(d.message.id)
    const [key, seq] = payloadText(d.message.payload).split(':') as [string, string]
    const expected = next.get(key) ?? 0
    if (Number(seq) !== expected) broken.add(`${key}: got ${seq}, expected ${expected}`)
    next.set(key, Number(seq) + 1)
  }
  return [...broken]
}

export function registerBatchingScenarios(h: ContractHarness): void {
  it(
    'delivers 2,000 concurrent single publishes (Promise.all) once each, in per-key order',
    async () => {
      const [producer, consumer] = await h.pair()
      const topic = h.topic('concurrent')
      const group = h.group()
      await producer.provision(topic, { groups: [group] })
      const arrivals: Delivery[] = []
      const c = h.collect(consumer, topic, {
        group,
        ordered: true,
        inFlight: 64,
        settle: (d) => {
          arrivals.push(d)
          return d.ack()
        },
      })
      await c.ready

      const keys = 16
      const messages: OutgoingMessage[] = Array.from({ length: 2_000 }, (_, i) =>
        createMessage(topic, { key: `key-${i % keys}`, payload: `key-${i % keys}:${Math.floor(i / keys)}` }),
      )
      const outcomes = await Promise.allSettled(messages.map((m) => producer.publish([m])))
      expect(outcomes.filter((o) => o.status === 'rejected')).toEqual([])
      await c.waitForIds(messages.length, h.ms(30_000))

      const published = new Set(messages.map((m) => m.id))
      for (const id of c.ids) expect(published.has(id), 'an id that was never published').toBe(true)
      expect(c.deliveries.length - countRedeliveries(c.deliveries)).toBe(messages.length)
      expect(keysOutOfOrder(arrivals)).toEqual([])
      expect(c.settleErrors).toEqual([])
    },
    h.testTimeout(30_000),
  )

  it(
    'fails a bad call alone among concurrent publishes; the calls around it are delivered',
    async () => {
      const [producer, consumer] = await h.pair()
      const topic = h.topic('bad-call')
      const group = h.group()
      await producer.provision(topic, { groups: [group] })
      const c = h.collect(consumer, topic, { group })
      await c.ready

      const good = Array.from({ length: 50 }, (_, i) => createMessage(topic, { key: `k${i % 4}` }))
      const calls = good.map((m) => producer.publish([m]))
      // Issued while the good calls may still be queued behind a send in flight.
      const bad = producer.publish([createMessage(topic), createMessage(`${topic}..bad`)])
      const more = createMessage(topic)
      calls.push(producer.publish([more]))
      await expectSwitchyardError(bad, 'InvalidTopicError')
      const outcomes = await Promise.allSettled(calls)
      expect(outcomes.filter((o) => o.status === 'rejected')).toEqual([])
      await c.waitForIds(good.length + 1)
      expect([...c.ids].sort()).toEqual([...good, more].map((m) => m.id).sort())
    },
    h.testTimeout(10_000),
  )
}
