/**
 * Capability scenarios: topic patterns, priority and replay. Each capability that is claimed is
 * tested; each that is not gets its negative test where one exists (a pattern subscription or
 * `fromBeginning` is refused; a priority is ignored, never an error).
 *
 * This module registers tests only and never looks at `transport.kind`.
 */
import { expect, it } from 'vitest'
import type { ContractHarness } from './contract-harness.js'
import { createMessage } from './create-message.js'
import { publishInBatches } from './delivery-scenarios.js'
import { expectStreamError } from './error-scenarios.js'

const priorities = [0, 5, 9, 1, 7, 3, 9, 0, 4, 8, 2, 6, 5, 1, 9, 0, 3, 7, 2, 8]

export function registerFeatureScenarios(h: ContractHarness): void {
  const { patterns, priority, replay } = h.capabilities

  if (patterns) {
    it(
      'routes `<prefix>.*` to one-word topics and `<prefix>.#` to zero or more words (patterns)',
      async () => {
        const [producer, consumer] = await h.pair()
        const p = h.topic('patterns')
        const one = `${p}.created`
        const two = `${p}.eu.created`
        const zero = p
        const other = `${p}x.created`
        const last = `${p}.zzz`
        // Declared first: brokers that resolve patterns against existing topics see them all.
        for (const topic of [one, two, zero, other, last]) await producer.provision(topic)
        const star = h.collect(consumer, `${p}.*`, { group: h.group('star') })
        const hash = h.collect(consumer, `${p}.#`, { group: h.group('hash') })
        await Promise.all([star.ready, hash.ready])

        const sent = [one, two, zero, other].map((topic) => createMessage(topic))
        await producer.publish(sent)
        await Promise.all([star.waitForIds(1), hash.waitForIds(3)])
        const sentinel = createMessage(last, { payload: 'sentinel' })
        await producer.publish([sentinel])
        await Promise.all(
          [star, hash].map((c) => c.waitForDelivery((d) => d.message.id === sentinel.id, 'the sentinel')),
        )

        const topicsOf = (ids: ReadonlySet<string>): string[] =>
          [...sent, sentinel]
            .filter((m) => ids.has(m.id))
            .map((m) => m.topic)
            .sort()
        expect(topicsOf(star.ids)).toEqual([one, last].sort())
        expect(topicsOf(hash.ids)).toEqual([one, two, zero, last].sort())
        for (const d of [...star.deliveries, ...hash.deliveries]) {
          expect(d.message.topic).toBe(sent.concat(sentinel).find((m) => m.id === d.message.id)?.topic)
        }
      },
      h.testTimeout(30_000),
    )
  } else {
    it(
      'refuses a pattern subscription with InvalidTopicError or CapabilityError (no patterns)',
      async () => {
        const transport = await h.transport()
        const p = h.topic('no-patterns')
        await expectStreamError(h.collect(transport, `${p}.*`), 'InvalidTopicError', 'CapabilityError')
        await expectStreamError(
          h.collect(transport, `${p}.#`, { group: h.group() }),
          'InvalidTopicError',
          'CapabilityError',
        )
      },
      h.testTimeout(10_000),
    )
  }

  if (priority) {
    it(
      'delivers a backlog higher priority first, publish order within a priority (priority)',
      async () => {
        const [producer, consumer] = await h.pair()
        const topic = h.topic('priority')
        const group = h.group()
        await producer.provision(topic, { groups: [group] })
        const sent = priorities.map((priority, i) =>
          createMessage(topic, { priority, payload: `${priority}:${i}`, key: `k${i}` }),
        )
        await publishInBatches(producer, sent, 5)
        const c = h.collect(consumer, topic, { group, inFlight: 1 })
        await c.waitForIds(sent.length)

        const expected = [...sent].sort((a, b) => (b.priority ?? 0) - (a.priority ?? 0)).map((m) => m.id)
        expect(c.deliveries.map((d) => d.message.id)).toEqual(expected)
      },
      h.testTimeout(20_000),
    )
  } else {
    it(
      'accepts and delivers messages with a priority, ignoring it (no priority)',
      async () => {
        const transport = await h.transport()
        const topic = h.topic('no-priority')
        const group = h.group()
        await transport.provision(topic, { groups: [group] })
        const c = h.collect(transport, topic, { group })
        await c.ready
        const sent = priorities.map((priority) => createMessage(topic, { priority }))
        await transport.publish(sent)
        await c.waitForIds(sent.length)
        expect([...c.ids].sort()).toEqual(sent.map((m) => m.id).sort())
      },
      h.testTimeout(10_000),
    )
  }

  if (replay) {
    it(
      'lets a new group read earlier messages with fromBeginning, and only new ones without (replay)',
      async () => {
        const [producer, consumer] = await h.pair()
        const topic = h.topic('replay')
        await producer.provision(topic)
        const earlier = Array.from({ length: 10 }, (_, i) => createMessage(topic, { key: `k${i % 3}` }))
        await producer.publish(earlier)

        const replaying = h.collect(consumer, topic, { group: h.group('replay'), fromBeginning: true })
        await replaying.waitForIds(10)
        const late = h.collect(consumer, topic, { group: h.group('late') })
        await Promise.all([replaying.ready, late.ready])
        const sentinel = createMessage(topic, { payload: 'sentinel' })
        await producer.publish([sentinel])
        await Promise.all(
          [replaying, late].map((c) =>
            c.waitForDelivery((d) => d.message.id === sentinel.id, 'the sentinel'),
          ),
        )

        expect([...replaying.ids].sort()).toEqual([...earlier.map((m) => m.id), sentinel.id].sort())
        expect([...late.ids]).toEqual([sentinel.id])
      },
      h.testTimeout(30_000),
    )
  } else {
    it(
      'refuses fromBeginning with CapabilityError (no replay)',
      async () => {
        const transport = await h.transport()
        const topic = h.topic('no-replay')
        await expectStreamError(
          h.collect(transport, topic, { group: h.group(), fromBeginning: true }),
          'CapabilityError',
        )
      },
      h.testTimeout(10_000),
    )
  }
}
