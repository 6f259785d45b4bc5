/**
 * The notifications service's `dedupe` middleware on memory: a registration published twice with
 * the same message id is e-mailed once, also when its first attempt fails at the mail server (the
 * failed attempt releases its claim, so the retry still sends, and the copy is then dropped).
 */
import 'reflect-metadata'
import type { SwitchyardApp } from '@switchyard/di'
import { afterEach, expect, it } from 'vitest'
import { serviceClasses, startMarketplace } from '../marketplace.js'
import { MemoryOutcomeLog } from '../outcome-log.js'
import { failsOnce, registrationAt } from '../talent-generator.js'
import { topics } from '../topics.js'
import { waitFor } from '../wait-for.js'

let app: SwitchyardApp | undefined
afterEach(async () => {
  await app?.stop()
  app = undefined
})

it('sends one notification for a registration published twice with the same id', async () => {
  const outcomes = new MemoryOutcomeLog()
  app = await startMarketplace(serviceClasses.notifications, { outcomes, env: { TRANSPORT: 'memory' } })
  const plain = registrationAt(1).event
  const flaky = registrationAt(4).event // its first attempt fails at the mail server
  expect(failsOnce(4) && !failsOnce(1)).toBe(true)
  for (const event of [plain, flaky]) {
    for (let copy = 0; copy < 2; copy++) {
      await app.bus.publish(topics.talentRegistered, event, { id: event.registrationId, key: event.talentId })
    }
  }
  const ids = [plain.registrationId, flaky.registrationId]
  const reported = (type: 'notification-sent' | 'duplicate-skipped') =>
    outcomes.of(type).map((o) => o.registrationId)
  // Each copy ends either notified or skipped as a duplicate.
  await waitFor(
    'both copies of both registrations to be handled',
    () =>
      ids.every(
        (id) =>
          [...reported('notification-sent'), ...reported('duplicate-skipped')].filter((r) => r === id)
            .length === 2,
      ),
    10_000,
  )
  await app.stop() // drains: nothing is still running that could send again
  expect(reported('notification-sent').sort()).toEqual(ids)
  expect(reported('duplicate-skipped').sort()).toEqual(ids)
  const flakySent = outcomes.of('notification-sent').find((o) => o.registrationId === flaky.registrationId)
  expect(flakySent?.attempt).toBeGreaterThan(1)
})
