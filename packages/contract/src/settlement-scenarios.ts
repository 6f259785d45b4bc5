/**
 * Settlement scenarios: nack and redelivery, dropping, the in-flight limit, held deliveries,
 * delayed redelivery, and closing with and without drain.
 *
 * The durable-delay scenario needs `capabilities.durableDelay`; the redelivery-to-a-new-transport
 * half of the no-drain close needs `capabilities.persistent`. This module registers tests only
 * and never looks at `transport.kind`.
 */
import type { Delivery, OutgoingMessage, TransportState } from '@switchyard/core'
import { expect, it } from 'vitest'
import { countRedeliveries } from './collect.js'
import type { ContractHarness } from './contract-harness.js'
import { createMessage } from './create-message.js'
import { userHeaders } from './delivery-scenarios.js'
import { expectSwitchyardError } from './expect-switchyard-error.js'
import { withDeadline } from './wait-for.js'

export function registerSettlementScenarios(h: ContractHarness): void {
  it(
    'redelivers a nacked message with the next attempt number and the same content',
    async () => {
      const [producer, consumer] = await h.pair()
      const topic = h.topic('nack')
      const group = h.group()
      await producer.provision(topic, { groups: [group] })
      const c = h.collect(consumer, topic, {
        group,
        settle: (d) => (d.message.attempt < 3 ? d.nack() : d.ack()),
      })
      await c.ready
      const sent = createMessage(topic, {
        key: 'k',
        headers: { 'x-h': 'v' },
        payload: Uint8Array.of(0, 1, 255),
      })
      await producer.publish([sent])
      await c.waitForDeliveries(3)

      expect(c.deliveries.map((d) => d.message.attempt)).toEqual([1, 2, 3])
      for (const d of c.deliveries) {
        expect(d.message.id).toBe(sent.id)
        expect(d.message.key).toBe('k')
        expect(Array.from(d.message.payload)).toEqual([0, 1, 255])
        expect(userHeaders(d.message.headers)).toEqual({ 'x-h': 'v' })
        expect(d.settled).toBe(true)
      }
      expect(c.settleErrors).toEqual([])
    },
    h.testTimeout(20_000),
  )

  it(
    'does not redeliver a message nacked with requeue: false',
    async () => {
      const [producer, consumer] = await h.pair()
      const topic = h.topic('drop')
      const group = h.group()
      await producer.provision(topic, { groups: [group] })
      const dropped = createMessage(topic, { payload: 'dropped' })
      const requeued = createMessage(topic, { payload: 'requeued' })
      const c = h.collect(consumer, topic, {
        group,
        settle: (d) => {
          if (d.message.attempt > 1) return d.ack()
          if (d.message.id === dropped.id) return d.nack({ requeue: false })
          if (d.message.id === requeued.id) return d.nack({ requeue: true })
          return d.ack()
        },
      })
      await c.ready
      await producer.publish([dropped, requeued])
      // The requeued message is the control: it comes back through the same path.
      await c.waitForDelivery(
        (d) => d.message.id === requeued.id && d.message.attempt === 2,
        'the requeued message',
      )
      const sentinel = createMessage(topic, { payload: 'sentinel' })
      await producer.publish([sentinel])
      await c.waitForDelivery((d) => d.message.id === sentinel.id, 'the sentinel')

      expect(c.count(dropped.id)).toBe(1)
      expect(c.count(requeued.id)).toBe(2)
      expect(c.settleErrors).toEqual([])
    },
    h.testTimeout(20_000),
  )

  it(
    'never holds more unsettled deliveries than inFlight',
    async () => {
      const [producer, consumer] = await h.pair()
      const topic = h.topic('inflight')
      const [held, witness] = [h.group('held'), h.group('witness')]
      await producer.provision(topic, { groups: [held, witness] })
      let maxUnsettled = 0
      const c = h.collect(consumer, topic, {
        group: held,
        inFlight: 3,
        settle: (_d, self) => {
          maxUnsettled = Math.max(maxUnsettled, self.unsettled().length)
        },
      })
      const w = h.collect(producer, topic, { group: witness })
      await Promise.all([c.ready, w.ready])
      const sent = Array.from({ length: 10 }, (_, i) => createMessage(topic, { key: `unique-${i}` }))
      await producer.publish(sent)
      // The witness group receiving all ten shows they were available to the held group too.
      await w.waitForIds(10)
      await c.waitForDeliveries(3)
      expect(c.deliveries).toHaveLength(3)
      const health = await consumer.health()
      expect(health.subscriptions.find((s) => s.topic === topic && s.group === held)?.inFlight).toBe(3)

      // Settling frees slots; settle whatever is held until all ten were delivered.
      while (c.ids.size < 10) {
        await Promise.all(c.unsettled().map((d) => d.ack()))
        await h.waitFor(() => c.unsettled().length > 0 || c.ids.size === 10, {
          description: () => `more deliveries after settling, ${c.ids.size} of 10 so far`,
        })
      }
      await Promise.all(c.unsettled().map((d) => d.ack()))
      expect(maxUnsettled).toBe(3)
      expect(c.deliveries.length - countRedeliveries(c.deliveries)).toBe(10)
    },
    h.testTimeout(20_000),
  )

  it(
    'lets other messages flow past a held delivery and redelivers it after unsubscribe',
    async () => {
      const [producer, consumer] = await h.pair()
      const topic = h.topic('held')
      const group = h.group()
      await producer.provision(topic, { groups: [group] })
      const sent = Array.from({ length: 20 }, (_, i) => createMessage(topic, { key: `unique-${i}` }))
      const first = sent[0]!
      let held: Delivery | undefined
      const c = h.collect(consumer, topic, {
        group,
        inFlight: 4,
        settle: (d) => {
          if (d.message.id === first.id && held === undefined) {
            held = d
            return undefined
          }
          return d.ack()
        },
      })
      await c.ready
      await producer.publish(sent)
      await c.waitForIds(20)
      expect(held).toBeDefined()
      expect(c.count(first.id)).toBe(1)
      expect(c.deliveries.length - countRedeliveries(c.deliveries)).toBe(20)

      c.stop()
      // Settling after the subscription ended is a no-op: the broker already took it back.
      await held!.ack()
      const again = h.collect(consumer, topic, { group })
      const redelivered = await again.waitForDelivery(
        (d) => d.message.id === first.id,
        'the held message again (unsubscribe gives unsettled deliveries back; settling one afterwards must be a no-op)',
      )
      expect(Array.from(redelivered.message.payload)).toEqual(Array.from(first.payload))
      expect(c.settleErrors).toEqual([])
    },
    h.testTimeout(20_000),
  )

  it(
    'redelivers a message nacked with delayMs no earlier than asked, as attempt 2',
    async () => {
      const [producer, consumer] = await h.pair()
      const topic = h.topic('delay')
      const group = h.group()
      await producer.provision(topic, { groups: [group] })
      const delayed = createMessage(topic, { payload: 'delayed' })
      const other = createMessage(topic, { payload: 'other' })
      const arrivedAt = new Map<Delivery, number>()
      let nackedAt = 0
      const c = h.collect(consumer, topic, {
        group,
        settle: (d) => {
          arrivedAt.set(d, Date.now())
          if (d.message.id === delayed.id && d.message.attempt === 1) {
            nackedAt = Date.now()
            return d.nack({ delayMs: 500 })
          }
          return d.ack()
        },
      })
      await c.ready
      await producer.publish([delayed])
      await c.waitForDeliveries(1)
      await producer.publish([other])
      const redelivery = await c.waitForDelivery(
        (d) => d.message.id === delayed.id && d.message.attempt > 1,
        'the delayed redelivery',
        h.ms(5_000) + 500,
      )
      await c.waitForDelivery((d) => d.message.id === other.id, 'the message published after the nack')

      expect(redelivery.message.attempt).toBe(2)
      expect(arrivedAt.get(redelivery)! - nackedAt).toBeGreaterThanOrEqual(500 - h.options.clockToleranceMs)
      expect(c.count(delayed.id)).toBe(2)
      expect(c.settleErrors).toEqual([])
    },
    h.testTimeout(20_000),
  )

  if (h.capabilities.durableDelay) {
    it(
      'keeps a delayed redelivery when the consumer closes before it is due (durableDelay)',
      async () => {
        const [producer, first] = await h.pair()
        const topic = h.topic('durable-delay')
        const group = h.group()
        await producer.provision(topic, { groups: [group] })
        const sent = createMessage(topic, { payload: 'delayed' })
        const c = h.collect(first, topic, { group, settle: 'hold' })
        await c.ready
        await producer.publish([sent])
        await c.waitForDeliveries(1)
        const nackedAt = Date.now()
        await c.deliveries[0]!.nack({ delayMs: 1_000 })
        await first.close({ drain: false })

        const second = await h.transport()
        const arrivedAt = new Map<Delivery, number>()
        const c2 = h.collect(second, topic, {
          group,
          settle: (d) => {
            arrivedAt.set(d, Date.now())
            return d.ack()
          },
        })
        const redelivery = await c2.waitForDelivery(
          (d) => d.message.id === sent.id,
          'the delayed redelivery',
          h.ms(10_000) + 1_000,
        )
        expect(redelivery.message.attempt).toBe(2)
        expect(arrivedAt.get(redelivery)! - nackedAt).toBeGreaterThanOrEqual(
          1_000 - h.options.clockToleranceMs,
        )
      },
      h.testTimeout(30_000),
    )
  }

  it(
    `close({ drain: true }) waits for an in-flight delivery and accepts its ack${h.capabilities.persistent ? ', which the group keeps' : ''}`,
    async () => {
      const [producer, consumer] = await h.pair()
      const topic = h.topic('drain')
      const group = h.group()
      await producer.provision(topic, { groups: [group] })
      const c = h.collect(consumer, topic, { group, settle: 'hold' })
      await c.ready
      const sent = createMessage(topic)
      await producer.publish([sent])
      await c.waitForDeliveries(1)

      const states: TransportState[] = []
      const watching = consumer.status$.subscribe((s) => states.push(s.state))
      h.track({ close: async () => watching.unsubscribe() })
      let closed = false
      const closing = consumer.close({ drain: true, timeoutMs: h.ms(10_000) }).then(() => {
        closed = true
      })
      await h.waitFor(() => states.includes('closing'), {
        description: () => `state closing, saw ${states.join(' → ')}`,
      })
      await new Promise((resolve) => setImmediate(resolve))
      expect(closed, 'close resolved while a delivery was still unsettled').toBe(false)
      await c.deliveries[0]!.ack()
      await closing
      expect(states.at(-1)).toBe('closed')

      if (!h.capabilities.persistent) return
      // The ack made during the drain was recorded: the group does not get the message again.
      const next = await h.transport()
      const c2 = h.collect(next, topic, { group })
      await c2.ready
      const sentinel = createMessage(topic, { payload: 'sentinel' })
      await producer.publish([sentinel])
      await c2.waitForDelivery((d) => d.message.id === sentinel.id, 'the sentinel')
      expect([...c2.ids]).toEqual([sentinel.id])
    },
    h.testTimeout(30_000),
  )

  it(
    `close({ drain: false }) returns without waiting for an unsettled delivery${h.capabilities.persistent ? ', which a new transport of the group receives' : ''}`,
    async () => {
      const [producer, consumer] = await h.pair()
      const topic = h.topic('no-drain')
      const group = h.group()
      await producer.provision(topic, { groups: [group] })
      const c = h.collect(consumer, topic, { group, settle: 'hold' })
      await c.ready
      const sent: OutgoingMessage = createMessage(topic)
      await producer.publish([sent])
      await c.waitForDeliveries(1)

      // A drain would wait up to timeoutMs (far beyond the deadline below); drain: false must not.
      await withDeadline(
        consumer.close({ drain: false, timeoutMs: h.ms(600_000) }),
        h.ms(10_000),
        'close({ drain: false }) with an unsettled delivery',
      )
      expect(c.deliveries[0]!.settled).toBe(false)
      await expectSwitchyardError(c.deliveries[0]!.ack(), 'TransportClosedError')

      if (h.capabilities.persistent) {
        const next = await h.transport()
        const c2 = h.collect(next, topic, { group })
        const again = await c2.waitForDelivery(
          (d) => d.message.id === sent.id,
          'the unsettled message',
          h.ms(10_000),
        )
        expect(again.message.attempt).toBeGreaterThanOrEqual(1)
      }
    },
    h.testTimeout(30_000),
  )
}
