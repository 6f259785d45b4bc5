/**
 * The demo's trace on memory: one dead-lettered registration's trace holds its creation, both
 * consumers' process spans, the dead-letter copy and the audit, parented in that order, and
 * `traceTree` prints it (what `npm start` shows).
 */
import 'reflect-metadata'
import type { SwitchyardApp } from '@switchyard/di'
import { afterEach, expect, it } from 'vitest'
import { expectedOutcome } from '../expected-outcome.js'
import { serviceClasses, startMarketplace } from '../marketplace.js'
import { defaultTemplate } from '../notification-settings.js'
import { MemoryOutcomeLog } from '../outcome-log.js'
import { RegistrationService } from '../registration-service.js'
import { settingsKeys } from '../topics.js'
import { startTracing, traceTree } from '../tracing.js'
import { waitFor } from '../wait-for.js'

let app: SwitchyardApp | undefined
afterEach(async () => {
  await app?.stop()
  app = undefined
})

it('follows a dead-lettered registration through registration, notifications and the audit', async () => {
  const outcomes = new MemoryOutcomeLog()
  const tracing = startTracing('all-in-one', {})
  app = await startMarketplace(
    [...serviceClasses.notifications, ...serviceClasses['search-index'], RegistrationService],
    { outcomes, env: { TRANSPORT: 'memory' }, tracing },
  )
  await app.configStore?.put(settingsKeys.notifications, { template: defaultTemplate })
  await app.container.resolve(RegistrationService).publishRange(0, 40)
  // The audit's span ends once its handler returned; the dead-letter send span on the confirm.
  await waitFor(
    'the audit span and the dead-letter send span',
    () => {
      const names = tracing.spans().map((s) => s.name)
      return names.includes('process talent.registered.dlq') && names.includes('send talent.registered.dlq')
    },
    20_000,
  )
  expect(outcomes.of('dead-lettered').length).toBe(expectedOutcome(40).deadLettered.length)
  const spans = tracing.spans()
  const audit = spans.find((s) => s.name === 'process talent.registered.dlq')
  if (audit === undefined) throw new Error('no audit span')
  expect(traceTree(spans, audit.traceId)).toEqual([
    'create talent.registered (PRODUCER, all-in-one)',
    '   └─ process talent.registered (CONSUMER, group notifications, all-in-one)',
    '   └─ process talent.registered (CONSUMER, group search-index, all-in-one)',
    '   └─ send talent.registered.dlq (PRODUCER, all-in-one)',
    '      └─ process talent.registered.dlq (CONSUMER, group dead-letter-audit, all-in-one)',
  ])
}, 60_000)
