/**
 * Error scenarios: everything after `close()` fails with `TransportClosedError`, and bad topic or
 * group names fail with `InvalidTopicError` before anything reaches the broker. (Oversized
 * messages are in the delivery scenarios, next to the size they are checked against.)
 *
 * This module registers tests only and never looks at `transport.kind`.
 */
import { isSwitchyardError, type SwitchyardErrorName, type TransportState } from '@switchyard/core'
import { lastValueFrom } from 'rxjs'
import { expect, it } from 'vitest'
import type { Collector } from './collect.js'
import type { ContractHarness } from './contract-harness.js'
import { createMessage } from './create-message.js'
import { expectSwitchyardError } from './expect-switchyard-error.js'
import { withDeadline } from './wait-for.js'

/** Waits until the collector's stream ended and asserts it errored with one of `names`. */
export async function expectStreamError(c: Collector, ...names: SwitchyardErrorName[]): Promise<void> {
  await c.waitForEnd()
  const ok = names.some((name) => isSwitchyardError(c.error, name))
  expect(ok, `stream of ${c.topic} should end with ${names.join(' or ')}, got ${String(c.error)}`).toBe(true)
}

const invalidTopics = ['', 'has space', 'slash/topic', 'x'.repeat(201), 'ünïcode', 'tab\there']

export function registerErrorScenarios(h: ContractHarness): void {
  it(
    'fails publish, provision, connect, subscribe and settle after close with TransportClosedError',
    async () => {
      const transport = await h.transport()
      const topic = h.topic('closed')
      const group = h.group()
      await transport.provision(topic, { groups: [group] })
      const c = h.collect(transport, topic, { group, settle: 'hold' })
      await c.ready
      await transport.publish([createMessage(topic)])
      await c.waitForDeliveries(1)

      // Concurrent and repeated closes share one close and resolve.
      await Promise.all([transport.close({ drain: false }), transport.close({ drain: false })])
      await transport.close()

      await expectSwitchyardError(transport.publish([createMessage(topic)]), 'TransportClosedError')
      await expectSwitchyardError(transport.provision(topic), 'TransportClosedError')
      await expectSwitchyardError(transport.connect(), 'TransportClosedError')
      await expectStreamError(h.collect(transport, topic, { group }), 'TransportClosedError')
      await expectSwitchyardError(c.deliveries[0]!.ack(), 'TransportClosedError')
      await expectSwitchyardError(c.deliveries[0]!.nack(), 'TransportClosedError')
      // The live subscription ended with the transport (by completing or with TransportClosedError).
      await c.waitForEnd()
      if (c.error !== undefined) await expectStreamError(c, 'TransportClosedError')
    },
    h.testTimeout(20_000),
  )

  it(
    'status$ gives each subscriber the current state, ends with closed and completes',
    async () => {
      const transport = await h.transport()
      await transport.connect()
      const seen: TransportState[] = []
      let completed = false
      const watching = transport.status$.subscribe({
        next: (s) => seen.push(s.state),
        complete: () => {
          completed = true
        },
      })
      h.track({ close: async () => watching.unsubscribe() })
      expect(seen, 'the current state, replayed on subscribe').toEqual(['connected'])
      await transport.close()
      expect(seen.at(-1)).toBe('closed')
      expect(completed).toBe(true)
      // A subscriber that comes after the close still gets the current state, then completion.
      const late = await withDeadline(
        lastValueFrom(transport.status$, { defaultValue: undefined }),
        h.ms(1_000),
        'status$ after close',
      )
      expect(late?.state).toBe('closed')
    },
    h.testTimeout(10_000),
  )

  it(
    'rejects empty and invalid topic names with InvalidTopicError in publish, provision and subscribe',
    async () => {
      const transport = await h.transport()
      for (const bad of invalidTopics) {
        await expectSwitchyardError(transport.publish([createMessage(bad)]), 'InvalidTopicError')
        await expectSwitchyardError(transport.provision(bad), 'InvalidTopicError')
        await expectStreamError(h.collect(transport, bad), 'InvalidTopicError')
      }
      // Wildcards are never valid when publishing, whatever the transport's `patterns`.
      const topic = h.topic('invalid')
      await expectSwitchyardError(transport.publish([createMessage(`${topic}.*`)]), 'InvalidTopicError')
      await expectSwitchyardError(transport.publish([createMessage(`${topic}.#`)]), 'InvalidTopicError')
    },
    h.testTimeout(20_000),
  )

  it(
    'rejects invalid group names with InvalidTopicError, and a batch with a bad topic delivers nothing',
    async () => {
      const transport = await h.transport()
      const topic = h.topic('invalid-group')
      await expectSwitchyardError(transport.provision(topic, { groups: [''] }), 'InvalidTopicError')
      await expectSwitchyardError(transport.provision(topic, { groups: ['bad group'] }), 'InvalidTopicError')
      await expectStreamError(h.collect(transport, topic, { group: 'bad/group' }), 'InvalidTopicError')
      await expectStreamError(h.collect(transport, topic, { group: '' }), 'InvalidTopicError')

      const group = h.group()
      await transport.provision(topic, { groups: [group] })
      const c = h.collect(transport, topic, { group })
      await c.ready
      await expectSwitchyardError(
        transport.publish([createMessage(topic), createMessage('bad topic')]),
        'InvalidTopicError',
      )
      const sentinel = createMessage(topic, { payload: 'sentinel' })
      await transport.publish([sentinel])
      await c.waitForDelivery((d) => d.message.id === sentinel.id, 'the sentinel')
      expect([...c.ids]).toEqual([sentinel.id])
    },
    h.testTimeout(20_000),
  )
}
