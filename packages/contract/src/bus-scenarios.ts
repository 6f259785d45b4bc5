/**
 * Bus scenarios: the core `Bus` policies (retry, dead-letter, decoding) running on the transport
 * under test. The policies are written once in `@switchyard/core`; these tests prove that the
 * transport gives them what they need (nack with delay, attempt counts, publish from a handler)
 * and that the dead letter keeps what the user needs to act on it.
 *
 * This module registers tests only and never looks at `transport.kind`.
 */
import { randomUUID } from 'node:crypto'
import { type Bus, type BusEvent, type Delivery, SwitchyardHeaders } from '@switchyard/core'
import { expect, it } from 'vitest'
import type { ContractHarness } from './contract-harness.js'
import { createMessage, payloadText } from './create-message.js'
import { userHeaders } from './delivery-scenarios.js'

interface Order {
  readonly order: number
  readonly fail: boolean
}

export function registerBusScenarios(h: ContractHarness): void {
  /** A Bus on `transport`, closed (without draining) after the test. */
  const busOn = (transport: ConstructorParameters<typeof Bus>[0]): Bus => h.bus(transport)

  it(
    'dead-letters a message after 3 failed attempts with the reason headers, payload and key',
    async () => {
      const [producer, consumer] = await h.pair()
      const topic = h.topic('bus-dlq')
      const group = h.group()
      const dlqGroup = h.group('dlq')
      await producer.provision(`${topic}.dlq`, { groups: [dlqGroup] })
      await producer.provision(topic, { groups: [group] })
      const dlq = h.collect(producer, `${topic}.dlq`, { group: dlqGroup })
      const bus = busOn(consumer)
      const events: BusEvent[] = []
      const watching = bus.events$.subscribe((e) => events.push(e))
      h.track({ close: async () => watching.unsubscribe() })

      const attempts: number[] = []
      const handled: number[] = []
      const handler = (m: { payload: Order; attempt: number }): void => {
        if (!m.payload.fail) {
          handled.push(m.payload.order)
          return
        }
        attempts.push(m.attempt)
        throw new TypeError(`order ${m.payload.order} refused: ü`)
      }
      const sub = bus.handle<Order>(topic, { group, retry: { attempts: 3, initialDelayMs: 10 } }, handler)
      await Promise.all([sub.ready, dlq.ready])

      const publishedAt = Date.now()
      const id = randomUUID()
      await bus.publish<Order>(
        topic,
        { order: 42, fail: true },
        { key: 'order-42', id, headers: { 'x-tenant': 'ünï' } },
      )
      const [dead] = await Promise.all([
        dlq.waitForDelivery(() => true, 'the dead letter', h.ms(10_000)),
        h.waitFor(() => attempts.length === 3, {
          description: () => `3 attempts, saw ${attempts.join(',')}`,
        }),
      ])
      // A later message is handled: the subscription goes on after a dead letter.
      await bus.publish<Order>(topic, { order: 43, fail: false }, { key: 'order-42' })
      await h.waitFor(() => handled.includes(43), { description: 'the next message handled' })

      expect(attempts).toEqual([1, 2, 3])
      const m = dead.message
      const headers = m.headers
      expect(headers[SwitchyardHeaders.originalTopic]).toBe(topic)
      expect(headers[SwitchyardHeaders.originalGroup]).toBe(group)
      expect(headers[SwitchyardHeaders.errorName]).toBe('TypeError')
      expect(headers[SwitchyardHeaders.errorMessage]).toBe('order 42 refused: ü')
      expect(headers[SwitchyardHeaders.attempts]).toBe('3')
      const firstFailure = Date.parse(headers[SwitchyardHeaders.firstFailureAt] ?? '')
      expect(firstFailure).toBeGreaterThanOrEqual(publishedAt - h.options.clockToleranceMs)
      expect(firstFailure).toBeLessThanOrEqual(Date.now())
      expect(JSON.parse(payloadText(m.payload))).toEqual({ order: 42, fail: true })
      expect(m.key).toBe('order-42')
      expect(userHeaders(headers)).toMatchObject({ 'x-tenant': 'ünï' })
      expect(dlq.deliveries).toHaveLength(1)
      expect(events.filter((e) => e.type === 'dead-lettered')).toHaveLength(1)
    },
    h.testTimeout(30_000),
  )

  it(
    'dead-letters a payload that is not JSON with DecodeError, and the stream goes on',
    async () => {
      const [producer, consumer] = await h.pair()
      const topic = h.topic('bus-decode')
      const group = h.group()
      const dlqGroup = h.group('dlq')
      await producer.provision(`${topic}.dlq`, { groups: [dlqGroup] })
      await producer.provision(topic, { groups: [group] })
      const dlq = h.collect(producer, `${topic}.dlq`, { group: dlqGroup })
      const bus = busOn(consumer)
      const received: Delivery<unknown>[] = []
      let ready!: () => void
      const isReady = new Promise<void>((resolve) => {
        ready = resolve
      })
      let streamError: unknown
      const consuming = bus.consume(topic, { group, onReady: () => ready() }).subscribe({
        next: (d) => {
          received.push(d)
          d.ack().catch((e: unknown) => {
            streamError ??= e
          })
        },
        error: (e: unknown) => {
          streamError = e
        },
      })
      h.track({ close: async () => consuming.unsubscribe() })
      await Promise.all([isReady, dlq.ready])

      const bad = createMessage(topic, { payload: '{"order": 1,', key: 'k', headers: { 'x-h': 'v' } })
      await producer.publish([bad])
      await bus.publish(topic, { order: 2 }, { key: 'k' })
      const dead = await dlq.waitForDelivery(() => true, 'the dead letter', h.ms(10_000))
      await h.waitFor(() => received.length === 1, { description: 'the valid message' })

      expect(streamError).toBeUndefined()
      expect(received.map((d) => d.message.payload)).toEqual([{ order: 2 }])
      expect(dead.message.headers[SwitchyardHeaders.errorName]).toBe('DecodeError')
      expect(dead.message.headers[SwitchyardHeaders.originalTopic]).toBe(topic)
      expect(payloadText(dead.message.payload)).toBe('{"order": 1,')
      expect(dead.message.key).toBe('k')
      expect(userHeaders(dead.message.headers)).toMatchObject({ 'x-h': 'v' })
      expect(dlq.deliveries).toHaveLength(1)
    },
    h.testTimeout(30_000),
  )
}
