/**
 * Batch-handler scenarios: `Bus.handleBatch` on the transport under test. One handler call gets
 * several messages and answers with an outcome per message; acks, retries (the policy per
 * message, then a dead letter) and immediate dead letters mixed in one batch must each reach the
 * broker, and batches never exceed `maxSize`.
 *
 * This module registers tests only and never looks at `transport.kind`.
 */
import { type BusEvent, Outcome, SwitchyardHeaders } from '@switchyard/core'
import { expect, it } from 'vitest'
import type { ContractHarness } from './contract-harness.js'
import { payloadText } from './create-message.js'

export function registerBatchHandlerScenarios(h: ContractHarness): void {
  it(
    'settles a batch per message: ack, retry then dead-letter, and dead-letter at once',
    async () => {
      const [producer, consumer] = await h.pair()
      const topic = h.topic('batch-mixed')
      const group = h.group()
      const dlqGroup = h.group('dlq')
      await producer.provision(`${topic}.dlq`, { groups: [dlqGroup] })
      await producer.provision(topic, { groups: [group] })
      const dlq = h.collect(producer, `${topic}.dlq`, { group: dlqGroup })
      const events: BusEvent[] = []
      const bus = h.bus(consumer, events)
      const sizes: number[] = []
      const seen = new Map<number, number[]>()
      const sub = bus.handleBatch<number>(
        topic,
        { group, maxSize: 4, maxWaitMs: h.ms(100), retry: { attempts: 2, initialDelayMs: 10 } },
        (messages) => {
          sizes.push(messages.length)
          return messages.map((m) => {
            seen.set(m.payload, [...(seen.get(m.payload) ?? []), m.attempt])
            if (m.payload % 3 === 0) return Outcome.ack()
            if (m.payload % 3 === 1) return Outcome.retry(0, new RangeError(`retry ${m.payload}`))
            return Outcome.deadLetter(new TypeError(`bad ${m.payload}`))
          })
        },
      )
      await Promise.all([sub.ready, dlq.ready])
      await h
        .bus(producer)
        .publishBatch(Array.from({ length: 9 }, (_, n) => ({ topic, payload: n, key: `k${n}` })))

      await dlq.waitForIds(6, h.ms(15_000))
      await h.waitFor(() => events.filter((e) => e.type === 'handled').length === 3, {
        description: 'three messages acked',
      })
      expect(sizes.every((size) => size >= 1 && size <= 4)).toBe(true)
      for (const n of [0, 3, 6]) expect(seen.get(n)).toEqual([1])
      for (const n of [1, 4, 7]) expect(seen.get(n)).toEqual([1, 2])
      for (const n of [2, 5, 8]) expect(seen.get(n)).toEqual([1])
      const dead = new Map(
        dlq.deliveries.map((d) => [Number(payloadText(d.message.payload)), d.message.headers] as const),
      )
      expect([...dead.keys()].sort()).toEqual([1, 2, 4, 5, 7, 8])
      expect(dead.get(1)?.[SwitchyardHeaders.errorName]).toBe('RangeError')
      expect(dead.get(1)?.[SwitchyardHeaders.attempts]).toBe('2')
      expect(dead.get(2)?.[SwitchyardHeaders.errorName]).toBe('TypeError')
      expect(dead.get(2)?.[SwitchyardHeaders.errorMessage]).toBe('bad 2')
    },
    h.testTimeout(40_000),
  )

  it(
    'a batch handler that throws fails every message of the batch; the retry acks them',
    async () => {
      const [producer, consumer] = await h.pair()
      const topic = h.topic('batch-throw')
      const group = h.group()
      await producer.provision(topic, { groups: [group] })
      const events: BusEvent[] = []
      const bus = h.bus(consumer, events)
      const attempts: number[] = []
      const sub = bus.handleBatch<number>(
        topic,
        { group, maxSize: 10, maxWaitMs: h.ms(200), retry: { attempts: 3, initialDelayMs: 10 } },
        (messages) => {
          for (const m of messages) attempts.push(m.attempt)
          if (messages.some((m) => m.attempt === 1)) throw new Error('database unavailable')
        },
      )
      await sub.ready
      await h.bus(producer).publishBatch([1, 2, 3].map((payload) => ({ topic, payload })))
      await h.waitFor(() => events.filter((e) => e.type === 'handled').length === 3, {
        description: () => `three acked, attempts seen ${attempts.join(',')}`,
        timeoutMs: h.ms(15_000),
      })
      expect(events.filter((e) => e.type === 'handler-failed').length).toBeGreaterThanOrEqual(3)
      expect(attempts.filter((a) => a === 2)).toHaveLength(3)
    },
    h.testTimeout(40_000),
  )
}
