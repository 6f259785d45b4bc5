/**
 * Delivery scenarios: round trip, volume, many topics, topic isolation, ephemeral subscriptions
 * and message size. Every transport runs all of them; the size scenario picks its assertion from
 * `capabilities.maxMessageBytes`.
 *
 * This module registers tests only; it knows no adapter and never looks at `transport.kind`.
 */

import type { OutgoingMessage, Transport } from '@switchyard/core'
import { reservedHeaderPrefix } from '@switchyard/core'
import { expect, it } from 'vitest'
import { countRedeliveries } from './collect.js'
import type { ContractHarness } from './contract-harness.js'
import { createMessage, payloadText } from './create-message.js'
import { expectSwitchyardError } from './expect-switchyard-error.js'

/** User headers of a delivered message (Switchyard's own removed). */
export function userHeaders(headers: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers).filter(([name]) => !name.startsWith(reservedHeaderPrefix)),
  )
}

/** Publishes `messages` in batches of `size`, one batch after the other. */
export async function publishInBatches(
  transport: Transport,
  messages: readonly OutgoingMessage[],
  size: number,
): Promise<void> {
  for (let i = 0; i < messages.length; i += size) await transport.publish(messages.slice(i, i + size))
}

export function registerDeliveryScenarios(h: ContractHarness): void {
  it(
    'round-trips id, key, timestamp, unicode headers and a binary payload of all 256 byte values',
    async () => {
      const transport = await h.transport()
      const topic = h.topic('roundtrip')
      const group = h.group()
      await transport.provision(topic, { groups: [group] })
      const c = h.collect(transport, topic, { group })
      await c.ready

      const bytes = Uint8Array.from({ length: 512 }, (_, i) => (i < 256 ? i : 511 - i))
      const headers = {
        'x-plain': 'value',
        'x-unicode': 'Grüße, 世界 🚀 — ñ',
        'x-empty': '',
        'x-json': '{"a":[1,"two"]}',
        'X-Mixed-Case': 'Case',
      }
      const full = createMessage(topic, {
        payload: bytes,
        key: 'key-ü-1',
        headers,
        timestamp: Date.now() - 5_123,
      })
      const bare = createMessage(topic, { payload: new Uint8Array(0) })
      await transport.publish([full, bare])
      await c.waitForIds(2)

      const got = c.deliveries.find((d) => d.message.id === full.id)
      const gotBare = c.deliveries.find((d) => d.message.id === bare.id)
      expect(got).toBeDefined()
      expect(gotBare).toBeDefined()
      const m = got!.message
      expect(m.topic).toBe(topic)
      expect(m.key).toBe('key-ü-1')
      expect(m.timestamp).toBe(full.timestamp)
      expect(m.attempt).toBe(1)
      expect(m.payload).toBeInstanceOf(Uint8Array)
      expect(Array.from(m.payload)).toEqual(Array.from(bytes))
      expect(userHeaders(m.headers)).toEqual(headers)

      const b = gotBare!.message
      expect(b.key).toBeUndefined()
      expect(b.payload.byteLength).toBe(0)
      expect(b.attempt).toBe(1)
      expect(b.timestamp).toBe(bare.timestamp)
      expect(userHeaders(b.headers)).toEqual({})
      expect(c.deliveries).toHaveLength(2)
      expect(c.settleErrors).toEqual([])
    },
    h.testTimeout(10_000),
  )

  it(
    'delivers 5,000 messages from 20 concurrent publishers (single and batch) with none lost or duplicated',
    async () => {
      const [producer, consumer] = await h.pair()
      const topic = h.topic('volume')
      const group = h.group()
      await producer.provision(topic, { groups: [group] })
      const c = h.collect(consumer, topic, { group, inFlight: 256 })
      await c.ready

      const expected = new Map<string, string>()
      const publishers = Array.from({ length: 20 }, (_, p) => {
        const messages = Array.from({ length: 250 }, (_, seq) => {
          const text = `publisher ${p} message ${seq}`
          const message = createMessage(topic, { payload: text, key: `p${p}-k${seq % 8}` })
          expected.set(message.id, text)
          return message
        })
        return p % 2 === 0
          ? publishInBatches(producer, messages, 25)
          : (async () => {
              for (const message of messages) await producer.publish([message])
            })()
      })
      await Promise.all(publishers)
      await c.waitForIds(5_000, h.ms(30_000))

      expect(c.ids.size).toBe(5_000)
      for (const d of c.deliveries) {
        expect(expected.get(d.message.id), 'an id that was never published').toBeDefined()
        expect(payloadText(d.message.payload)).toBe(expected.get(d.message.id))
      }
      expect(c.deliveries.length - countRedeliveries(c.deliveries)).toBe(5_000)
      expect(c.settleErrors).toEqual([])
    },
    h.testTimeout(60_000),
  )

  it(
    'delivers 20 topics x 100 messages concurrently, each subscriber exactly its own topic',
    async () => {
      const [producer, consumer] = await h.pair()
      const topics = Array.from({ length: 20 }, (_, i) => h.topic(`many${i}`))
      const group = h.group()
      await Promise.all(topics.map((topic) => producer.provision(topic, { groups: [group] })))
      const collectors = topics.map((topic) => h.collect(consumer, topic, { group }))
      await Promise.all(collectors.map((c) => c.ready))

      const sent = topics.map((topic) =>
        Array.from({ length: 100 }, (_, i) => createMessage(topic, { key: `k${i % 10}` })),
      )
      await Promise.all(sent.map((messages) => publishInBatches(producer, messages, 10)))
      await Promise.all(collectors.map((c) => c.waitForIds(100, h.ms(20_000))))

      collectors.forEach((c, i) => {
        const topic = topics[i]
        const ids = new Set(sent[i]!.map((m) => m.id))
        expect(c.deliveries.every((d) => d.message.topic === topic)).toBe(true)
        expect([...c.ids].sort()).toEqual([...ids].sort())
        expect(c.deliveries.length - countRedeliveries(c.deliveries)).toBe(100)
      })
    },
    h.testTimeout(60_000),
  )

  it(
    'keeps topics isolated: a subscriber of A sees nothing published to similarly named topics',
    async () => {
      const transport = await h.transport()
      const a = h.topic('isolation')
      const neighbours = [`${a}.child`, `${a}x`, `x${a}`].map((topic) => h.derived(topic))
      const ca = h.collect(transport, a)
      const cn = neighbours.map((topic) => h.collect(transport, topic))
      await Promise.all([ca.ready, ...cn.map((c) => c.ready)])

      const forA = Array.from({ length: 30 }, () => createMessage(a))
      const forNeighbours = neighbours.map((topic) => Array.from({ length: 30 }, () => createMessage(topic)))
      // One mixed batch: messages of several topics interleaved.
      const mixed = forA.flatMap((m, i) => [m, ...forNeighbours.map((list) => list[i]!)])
      await transport.publish(mixed)
      await Promise.all([ca.waitForIds(30), ...cn.map((c) => c.waitForIds(30))])
      // A last message to every topic, published after everything else and awaited: a stray
      // message on its way has had at least as long to arrive before the counts are compared.
      const sentinels = [a, ...neighbours].map((topic) => createMessage(topic, { payload: 'sentinel' }))
      await transport.publish(sentinels)
      await Promise.all(
        [ca, ...cn].map((c, i) =>
          c.waitForDelivery((d) => d.message.id === sentinels[i]!.id, 'the sentinel'),
        ),
      )

      expect([...ca.ids].sort()).toEqual([...forA.map((m) => m.id), sentinels[0]!.id].sort())
      cn.forEach((c, i) => {
        expect([...c.ids].sort()).toEqual(
          [...forNeighbours[i]!.map((m) => m.id), sentinels[i + 1]!.id].sort(),
        )
        expect(c.deliveries.every((d) => d.message.topic === neighbours[i])).toBe(true)
      })
      expect(ca.deliveries.every((d) => d.message.topic === a)).toBe(true)
    },
    h.testTimeout(20_000),
  )

  it(
    'gives a subscription without a group only messages published after it is ready',
    async () => {
      const transport = await h.transport()
      const topic = h.topic('ephemeral')
      await transport.provision(topic)
      const before = Array.from({ length: 5 }, () => createMessage(topic))
      await transport.publish(before)
      const c = h.collect(transport, topic)
      await c.ready
      const after = Array.from({ length: 5 }, () => createMessage(topic))
      await transport.publish(after)
      await c.waitForIds(5)
      const sentinel = createMessage(topic, { payload: 'sentinel' })
      await transport.publish([sentinel])
      await c.waitForDelivery((d) => d.message.id === sentinel.id, 'the sentinel')

      expect([...c.ids].sort()).toEqual([...after.map((m) => m.id), sentinel.id].sort())
    },
    h.testTimeout(20_000),
  )

  const limit = h.capabilities.maxMessageBytes
  if (limit !== undefined) {
    it(
      `rejects a message over maxMessageBytes (${limit}) with MessageTooLargeError and delivers nothing of its batch`,
      async () => {
        const transport = await h.transport()
        const topic = h.topic('too-large')
        const group = h.group()
        await transport.provision(topic, { groups: [group] })
        const c = h.collect(transport, topic, { group })
        await c.ready

        const huge = createMessage(topic, { payload: new Uint8Array(limit + 1) })
        const small = createMessage(topic, { payload: 'small' })
        await expectSwitchyardError(transport.publish([huge]), 'MessageTooLargeError')
        await expectSwitchyardError(transport.publish([small, huge]), 'MessageTooLargeError')
        const sentinel = createMessage(topic, { payload: 'sentinel' })
        await transport.publish([sentinel])
        await c.waitForDelivery((d) => d.message.id === sentinel.id, 'the sentinel')

        expect([...c.ids]).toEqual([sentinel.id])
      },
      h.testTimeout(20_000),
    )
  } else {
    it(
      'round-trips a 1 MiB payload (no maxMessageBytes is declared)',
      async () => {
        const transport = await h.transport()
        const topic = h.topic('large')
        const group = h.group()
        await transport.provision(topic, { groups: [group] })
        const c = h.collect(transport, topic, { group })
        await c.ready
        const payload = Uint8Array.from({ length: 1024 * 1024 }, (_, i) => (i * 31) % 251)
        const message = createMessage(topic, { payload })
        await transport.publish([message])
        await c.waitForIds(1)
        expect(Buffer.from(c.deliveries[0]!.message.payload).equals(Buffer.from(payload))).toBe(true)
      },
      h.testTimeout(20_000),
    )
  }
}
