/**
 * `Transport.inspect` scenarios: a transport that has it reports a provisioned group's unsettled
 * messages and drops to zero once they are settled; a transport without it has no half-present
 * method. This module registers tests only and never looks at `transport.kind`.
 */
import type { GroupInfo, Transport } from '@switchyard/core'
import { expect, it } from 'vitest'
import type { ContractHarness } from './contract-harness.js'
import { createMessage } from './create-message.js'
import { expectSwitchyardError } from './expect-switchyard-error.js'

async function groupOf(transport: Transport, topic: string, group: string): Promise<GroupInfo | undefined> {
  const inspect = transport.inspect as NonNullable<Transport['inspect']>
  const found = await inspect({ topic, groups: [group] })
  return found.groups.find((g) => g.topic === topic && g.group === group)
}

export function registerInspectScenarios(h: ContractHarness): void {
  it(
    'inspect (where present): a group shows the messages it has not settled, then none once it acked them',
    async () => {
      const [producer, consumer] = await h.pair()
      if (producer.inspect === undefined) {
        // Absent means absent everywhere: no transport of this factory claims it.
        expect(consumer.inspect).toBeUndefined()
        return
      }
      const topic = h.topic('inspect')
      const group = h.group('inspect')
      await producer.provision(topic, { groups: [group] })
      const sent = [1, 2, 3].map(() => createMessage(topic))
      await producer.publish(sent)

      let seen: GroupInfo | undefined
      await h.waitFor(
        async () => {
          seen = await groupOf(producer, topic, group)
          return seen?.lag === 3
        },
        { timeoutMs: h.ms(15_000), intervalMs: 100, description: () => `lag 3, saw ${JSON.stringify(seen)}` },
      )
      const everything = await producer.inspect({ topic, groups: [group] })
      expect(everything.at).toBeGreaterThan(0)
      if (everything.complete) {
        const listed = everything.topics.find((t) => t.name === topic)
        expect(listed?.name).toBe(topic)
        // Retained messages: only a broker that replays keeps them.
        if (h.capabilities.replay && listed?.messages !== undefined) {
          expect(listed.messages).toBeGreaterThanOrEqual(3)
        }
      }

      const collector = h.collect(consumer, topic, { group })
      await collector.waitForIds(3)
      await h.waitFor(
        async () => {
          seen = await groupOf(producer, topic, group)
          return seen?.lag === 0
        },
        { timeoutMs: h.ms(20_000), intervalMs: 200, description: () => `lag 0, saw ${JSON.stringify(seen)}` },
      )
      await expectSwitchyardError(() => producer.inspect?.({ topic: 'bad topic!' }), 'InvalidTopicError')
    },
    h.testTimeout(60_000),
  )
}
