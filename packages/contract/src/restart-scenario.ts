/**
 * The broker-restart scenario: 10,000 messages from 100 concurrent publishers, with the broker
 * restarted in the middle; a group consumer must receive every one and `status$` must show the
 * recovery. Registered only when the suite is given `restartBroker` and the transport claims
 * `persistent` (a broker that forgets messages on restart cannot pass it).
 *
 * Its deadlines are fixed, not scaled: it only ever runs against a real broker, and the rules of
 * the test brokers bound every broker command to a few minutes.
 */
import { isSwitchyardError, type OutgoingMessage, type TransportState } from '@switchyard/core'
import { expect, it } from 'vitest'
import type { ContractHarness } from './contract-harness.js'
import { hundredPublishers } from './hundred-publishers.js'

/** True when `states` shows `reconnecting` followed later by `connected`. */
function recovered(states: readonly TransportState[]): boolean {
  const at = states.indexOf('reconnecting')
  return at >= 0 && states.indexOf('connected', at + 1) > at
}

export function registerRestartScenario(h: ContractHarness): void {
  const restartBroker = h.options.restartBroker
  if (restartBroker === undefined || !h.capabilities.persistent) return

  it('delivers all 10,000 messages of 100 publishers to a group across a broker restart', async () => {
    const [producer, consumer] = await h.pair()
    const topic = h.topic('restart')
    const group = h.group()
    await producer.provision(topic, { groups: [group] })
    const states = { producer: [] as TransportState[], consumer: [] as TransportState[] }
    // What a timeout below reports: each state with the name of the error it came with.
    const seen = { producer: [] as string[], consumer: [] as string[] }
    const watch = (t: typeof producer, side: 'producer' | 'consumer') =>
      t.status$.subscribe((s) => {
        states[side].push(s.state)
        seen[side].push(s.error ? `${s.state} (${s.error.name})` : s.state)
      })
    const watches = [watch(producer, 'producer'), watch(consumer, 'consumer')]
    h.track({
      close: async () => {
        for (const w of watches) w.unsubscribe()
      },
    })
    const c = h.collect(consumer, topic, { group, inFlight: 256, timeoutMs: 180_000 })
    await c.ready

    let retries = 0
    const publishDeadline = Date.now() + 150_000
    // What an application does: publish again after a retryable failure, with backoff.
    const publishWithRetry = async (batch: readonly OutgoingMessage[]): Promise<void> => {
      for (let attempt = 1; ; attempt++) {
        try {
          await producer.publish(batch)
          return
        } catch (error) {
          if (!isSwitchyardError(error) || !error.retryable || Date.now() > publishDeadline) throw error
          retries++
          await new Promise((resolve) => setTimeout(resolve, Math.min(1_000, 50 * 2 ** attempt)))
        }
      }
    }
    const { run, messages } = hundredPublishers(topic, publishWithRetry)
    // 40 % before the restart; 30 % paced so that publishing spans the outage; the rest once the
    // broker is back. The consumer is consuming throughout.
    await run(0, 4, 0)
    const restarting = restartBroker()
    const during = run(4, 7, 100)
    await restarting
    await Promise.all([during, run(7, 10, 0)])
    await c.waitForIds(10_000, 180_000)

    const sent = messages.map((m) => m.id)
    expect(c.ids.size).toBe(10_000)
    expect(sent.every((id) => c.ids.has(id))).toBe(true)
    // The consumer's connection broke under it: it must have shown the recovery. The producer
    // may have been idle during the outage, so it only has to end up connected.
    await h.waitFor(
      () =>
        recovered(states.consumer) &&
        states.consumer.at(-1) === 'connected' &&
        states.producer.at(-1) === 'connected',
      {
        timeoutMs: 60_000,
        description: () =>
          `consumer reconnecting then connected, producer connected; producer: ${seen.producer.join(' → ')}; ` +
          `consumer: ${seen.consumer.join(' → ')} (${retries} publish retries)`,
      },
    )
  }, 300_000)
}
