/**
 * Group scenarios: fan-out across groups, competing consumers within a group, per-key order,
 * unsubscribe/resubscribe without loss, and many transports closing at once.
 *
 * Per-key order with competing consumers is tested where `capabilities.orderedByKey` is claimed;
 * `ordered: true` subscriptions must keep per-key order on every transport, so that scenario is
 * always registered. This module registers tests only and never looks at `transport.kind`.
 */
import type { Delivery, OutgoingMessage, Transport } from '@switchyard/core'
import { expect, it } from 'vitest'
import { type Collector, countRedeliveries } from './collect.js'
import type { ContractHarness } from './contract-harness.js'
import { createMessage, payloadText } from './create-message.js'
import { publishInBatches } from './delivery-scenarios.js'

const union = (collectors: readonly Collector[]): Set<string> =>
  new Set(collectors.flatMap((c) => [...c.ids]))

const allDeliveries = (collectors: readonly Collector[]): Delivery[] =>
  collectors.flatMap((c) => c.deliveries)

/** `keys` keys × `perKey` messages with payload `<key>:<seq>`, published by 4 concurrent publishers. */
async function publishKeyed(
  transport: Transport,
  topic: string,
  keys: number,
  perKey: number,
): Promise<OutgoingMessage[]> {
  const streams = Array.from({ length: 4 }, () => [] as OutgoingMessage[])
  for (let seq = 0; seq < perKey; seq++) {
    for (let k = 0; k < keys; k++) {
      streams[k % 4]!.push(createMessage(topic, { key: `key-${k}`, payload: `key-${k}:${seq}` }))
    }
  }
  await Promise.all(streams.map((messages) => publishInBatches(transport, messages, 10)))
  return streams.flat()
}

/** Keys whose first deliveries did not come in publish order, with the order seen. */
function orderViolations(arrivals: readonly Delivery[]): string[] {
  const firstSeen = new Map<string, number[]>()
  const seen = new Set<string>()
  for (const d of arrivals) {
    if (seen.has(d.message.id)) continue
    seen.add(d.message.id)
    const [key, seq] = payloadText(d.message.payload).split(':')
    const list = firstSeen.get(key!) ?? []
    list.push(Number(seq))
    firstSeen.set(key!, list)
  }
  const violations: string[] = []
  for (const [key, seqs] of firstSeen) {
    if (seqs.some((seq, i) => seq !== i)) violations.push(`${key}: ${seqs.join(',')}`)
  }
  return violations
}

/** Acks after a random 0-2 ms, so that consumers interleave. */
const ackSoon = (d: Delivery): Promise<void> =>
  new Promise<void>((resolve) => setTimeout(resolve, Math.floor(Math.random() * 3))).then(() => d.ack())

export function registerGroupScenarios(h: ContractHarness): void {
  it(
    'gives every message to each of two groups',
    async () => {
      const [producer, consumerA = producer, consumerB = producer] = await h.transports(3)
      const topic = h.topic('fanout')
      const [g1, g2] = [h.group('one'), h.group('two')]
      await producer.provision(topic, { groups: [g1, g2] })
      const c1 = h.collect(consumerA, topic, { group: g1 })
      const c2 = h.collect(consumerB, topic, { group: g2 })
      await Promise.all([c1.ready, c2.ready])

      const sent = Array.from({ length: 100 }, (_, i) => createMessage(topic, { key: `k${i % 7}` }))
      await publishInBatches(producer, sent, 20)
      await Promise.all([c1.waitForIds(100), c2.waitForIds(100)])

      const ids = sent.map((m) => m.id).sort()
      for (const c of [c1, c2]) {
        expect([...c.ids].sort()).toEqual(ids)
        expect(c.deliveries.length - countRedeliveries(c.deliveries)).toBe(100)
      }
    },
    h.testTimeout(20_000),
  )

  it(
    'shares the messages of one group between its consumers, each message handled once',
    async () => {
      const [producer, ...consumers] = await h.transports(4)
      const topic = h.topic('compete')
      const group = h.group()
      await producer.provision(topic, { groups: [group] })
      const collectors = consumers.map((t) => h.collect(t, topic, { group, inFlight: 4, settle: ackSoon }))
      await Promise.all(collectors.map((c) => c.ready))

      const sent = Array.from({ length: 300 }, (_, i) => createMessage(topic, { key: `k${i}` }))
      await publishInBatches(producer, sent, 30)
      await h.waitFor(() => union(collectors).size === 300, {
        timeoutMs: h.ms(20_000),
        description: () => `300 distinct ids across the group, got ${union(collectors).size}`,
      })

      const busy = collectors.filter((c) => c.deliveries.length > 0)
      expect(busy.length, 'consumers that received messages').toBeGreaterThanOrEqual(2)
      const deliveries = allDeliveries(collectors)
      // A message may reach two consumers only as a redelivery (attempt > 1).
      expect(deliveries.length - countRedeliveries(deliveries)).toBe(300)
      expect(collectors.flatMap((c) => c.settleErrors)).toEqual([])
    },
    h.testTimeout(30_000),
  )

  if (h.capabilities.orderedByKey) {
    it(
      'keeps per-key order across 16 keys with 10 competing consumers, one unsettled delivery per key at a time',
      async () => {
        const [producer, ...consumers] = await h.transports(3)
        const topic = h.topic('order')
        const group = h.group()
        await producer.provision(topic, { groups: [group] })
        const arrivals: Delivery[] = []
        const unsettledByKey = new Map<string, number>()
        let overlaps = 0
        const settle = async (d: Delivery): Promise<void> => {
          arrivals.push(d)
          const key = d.message.key ?? ''
          const unsettled = unsettledByKey.get(key) ?? 0
          if (unsettled > 0) overlaps++
          unsettledByKey.set(key, unsettled + 1)
          await new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 3)))
          unsettledByKey.set(key, (unsettledByKey.get(key) ?? 1) - 1)
          await d.ack()
        }
        const collectors = Array.from({ length: 10 }, (_, i) =>
          h.collect(consumers[i % consumers.length]!, topic, { group, inFlight: 8, settle }),
        )
        await Promise.all(collectors.map((c) => c.ready))

        await publishKeyed(producer, topic, 16, 25)
        await h.waitFor(() => union(collectors).size === 400, {
          timeoutMs: h.ms(20_000),
          description: () => `400 distinct ids across the group, got ${union(collectors).size}`,
        })

        expect(orderViolations(arrivals)).toEqual([])
        expect(overlaps, 'deliveries that arrived while an earlier one of their key was unsettled').toBe(0)
        expect(collectors.flatMap((c) => c.settleErrors)).toEqual([])
      },
      h.testTimeout(30_000),
    )
  }

  it(
    'keeps per-key order for ordered subscriptions with two consumers in one group',
    async () => {
      const [producer, ...consumers] = await h.transports(3)
      const topic = h.topic('ordered')
      const group = h.group()
      await producer.provision(topic, { groups: [group] })
      const arrivals: Delivery[] = []
      const settle = (d: Delivery): Promise<void> => {
        arrivals.push(d)
        return ackSoon(d)
      }
      const collectors = consumers.map((t) =>
        h.collect(t, topic, { group, ordered: true, inFlight: 8, settle }),
      )
      await Promise.all(collectors.map((c) => c.ready))

      await publishKeyed(producer, topic, 16, 25)
      await h.waitFor(() => union(collectors).size === 400, {
        timeoutMs: h.ms(20_000),
        description: () => `400 distinct ids across the group, got ${union(collectors).size}`,
      })

      expect(orderViolations(arrivals)).toEqual([])
      expect(collectors.flatMap((c) => c.settleErrors)).toEqual([])
    },
    h.testTimeout(30_000),
  )

  it(
    'loses nothing when a group unsubscribes and resubscribes across 5 batches',
    async () => {
      const [producer, consumer] = await h.pair()
      const topic = h.topic('resubscribe')
      const group = h.group()
      await producer.provision(topic, { groups: [group] })
      const acked = new Set<string>()
      let n = 0
      // Ack most deliveries at once; leave every fifth unsettled, to be taken back on unsubscribe.
      const settle = (d: Delivery): Promise<void> | undefined => {
        if (n++ % 5 === 4) return undefined
        acked.add(d.message.id)
        return d.ack()
      }
      const sent: OutgoingMessage[] = []
      const collectors: Collector[] = []
      for (let round = 0; round < 5; round++) {
        const c = h.collect(consumer, topic, { group, inFlight: 8, settle })
        collectors.push(c)
        await c.ready
        // A key of its own per message: a delivery held unsettled for the whole round holds its key
        // back where the core keeps key order (RabbitMQ, Redis, NATS), and shared keys let the
        // window fill with held-back messages of those keys (a batch given back on the previous
        // stop comes back as a run of one key), which stalls the round by design (seen on NATS).
        const batch = Array.from({ length: 40 }, (_, i) => createMessage(topic, { key: `r${round}-${i}` }))
        sent.push(...batch)
        await publishInBatches(producer, batch, 10)
        // NATS: new messages can go to a cancelled pull of an earlier round and return only after
        // ack_wait (10 s), sometimes twice.
        await c.waitForDeliveries(10, h.ms(45_000))
        c.stop()
      }
      const final = h.collect(consumer, topic, {
        group,
        settle: (d) => {
          acked.add(d.message.id)
          return d.ack()
        },
      })
      collectors.push(final)
      // A bound, not a speed target: NATS (nats-server 2.9) hands back messages that were in a
      // cancelled pull, or given back with nak after a few resubscribes, only after ack_wait (10 s in
      // its contract run), and one run of five needed a second cycle: 20 s was too tight for that.
      await h.waitFor(() => acked.size === 200, {
        timeoutMs: h.ms(45_000),
        description: () => `200 acknowledged ids, got ${acked.size}`,
      })

      expect([...acked].sort()).toEqual(sent.map((m) => m.id).sort())
      expect(collectors.flatMap((c) => c.settleErrors)).toEqual([])
    },
    h.testTimeout(300_000),
  )

  const { persistent } = h.capabilities
  it(
    persistent
      ? 'hands every message to a fresh transport after 10 transports subscribed and closed concurrently'
      : 'creates, subscribes and closes 10 transports concurrently, each stream ending with the close',
    async () => {
      const [producer] = await h.transports(1)
      const topic = h.topic('concurrent-close')
      const group = h.group()
      const sent = Array.from({ length: 100 }, (_, i) => createMessage(topic, { key: `k${i % 10}` }))
      if (persistent) {
        await producer!.provision(topic, { groups: [group] })
        await publishInBatches(producer!, sent, 25)
      }

      const closed = await Promise.all(
        Array.from({ length: 10 }, async (_, i) => {
          const transport = await h.transport()
          const c = h.collect(transport, topic, { group, inFlight: 5, settle: 'hold' })
          await c.ready
          // A transport of its own broker gets something to hold while it closes.
          if (!persistent) {
            await transport.publish(sent.slice(i * 10, i * 10 + 10))
            await c.waitForDeliveries(5)
          }
          await transport.close(i % 2 === 0 ? { drain: false } : { drain: true, timeoutMs: h.ms(100) })
          return c
        }),
      )
      for (const c of closed) {
        await c.waitForEnd()
        if (c.error !== undefined) expect(c.error).toMatchObject({ name: 'TransportClosedError' })
      }
      if (!persistent) {
        expect(closed.map((c) => c.deliveries.length)).toEqual(Array.from({ length: 10 }, () => 5))
        return
      }

      const fresh = await h.transport()
      const c = h.collect(fresh, topic, { group })
      await c.waitForIds(100, h.ms(20_000))
      expect([...c.ids].sort()).toEqual(sent.map((m) => m.id).sort())
    },
    h.testTimeout(60_000),
  )
}
