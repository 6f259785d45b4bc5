/**
 * Idempotent-consumer scenarios: the `dedupe` middleware of `@switchyard/core` on the transport
 * under test. Every id is published twice and two consumers of one group race on the copies;
 * the handler must run once per id, and a handler failure must release the claim so the retry
 * runs it again.
 *
 * This module registers tests only and never looks at `transport.kind`.
 */
import { type Bus, type BusEvent, dedupe, MemoryDedupStore, type Transport } from '@switchyard/core'
import { expect, it } from 'vitest'
import type { ContractHarness } from './contract-harness.js'

export function registerDedupScenarios(h: ContractHarness): void {
  const busOn = (transport: Transport, events?: BusEvent[]): Bus => h.bus(transport, events)

  it(
    'two consumers racing on the same ids run the handler once per id',
    async () => {
      const [producer, first, second] = await h.transports(3)
      const topic = h.topic('dedup-race')
      const group = h.group()
      await producer.provision(topic, { groups: [group] })
      const store = new MemoryDedupStore()
      const runs = new Map<number, number>()
      const events: BusEvent[] = []
      const middleware = [dedupe({ store, retryDelayMs: h.ms(50) })]
      const handler = async (m: { payload: number }): Promise<void> => {
        runs.set(m.payload, (runs.get(m.payload) ?? 0) + 1)
        // Long enough for the other copy to arrive while this one runs.
        await new Promise((resolve) => setTimeout(resolve, 5))
      }
      const consumers = [first, second].map((t) => busOn(t as Transport, events))
      const subs = consumers.map((bus) =>
        bus.handle<number>(topic, { group, concurrency: 8, middleware }, handler),
      )
      await Promise.all(subs.map((s) => s.ready))

      const ids = 50
      const bus = busOn(producer)
      // Each id twice, the copies next to each other (as a producer retry would publish them).
      await bus.publishBatch(
        Array.from({ length: ids * 2 }, (_, i) => {
          const n = Math.floor(i / 2)
          return { topic, payload: n, id: `dedup-${n}`, key: `k${i % 7}` }
        }),
      )
      const settled = (): number => events.filter((e) => e.type === 'handled' || e.type === 'dropped').length
      await h.waitFor(() => settled() >= ids * 2, {
        description: () => `${ids * 2} deliveries handled or dropped, saw ${settled()}`,
        timeoutMs: h.ms(20_000),
      })

      expect(runs.size).toBe(ids)
      expect([...runs.values()].every((count) => count === 1)).toBe(true)
      expect(events.filter((e) => e.type === 'dropped')).toHaveLength(ids)
    },
    h.testTimeout(60_000),
  )

  it(
    'a handler that fails after the claim releases it: the retry runs the handler, later copies are dropped',
    async () => {
      const [producer, consumer] = await h.pair()
      const topic = h.topic('dedup-fail')
      const group = h.group()
      await producer.provision(topic, { groups: [group] })
      const events: BusEvent[] = []
      const bus = busOn(consumer, events)
      const attempts: number[] = []
      const sub = bus.handle<string>(
        topic,
        {
          group,
          retry: { attempts: 3, initialDelayMs: 10 },
          middleware: [dedupe({ store: new MemoryDedupStore() })],
        },
        (m) => {
          attempts.push(m.attempt)
          if (attempts.length === 1) throw new Error('first attempt fails')
        },
      )
      await sub.ready
      const publisher = busOn(producer)
      await publisher.publish(topic, 'x', { id: 'dedup-fail-1' })
      await h.waitFor(() => events.some((e) => e.type === 'handled'), { description: 'the retry handled' })
      await publisher.publish(topic, 'x', { id: 'dedup-fail-1' })
      await h.waitFor(() => events.some((e) => e.type === 'dropped'), { description: 'the copy dropped' })

      expect(attempts).toEqual([1, 2])
      expect(events.filter((e) => e.type === 'handler-failed')).toHaveLength(1)
    },
    h.testTimeout(30_000),
  )
}
