/**
 * End to end on the in-memory transport: every service of the marketplace in this one process,
 * wired by `@switchyard/di` from `TRANSPORT=memory`, driven through the shared scenario
 * (1,000 registrations, a live template change) — the same assertions as on Kafka and RabbitMQ.
 */
import 'reflect-metadata'
import type { SwitchyardApp } from '@switchyard/di'
import { afterEach, expect, it } from 'vitest'
import { serviceClasses, startMarketplace } from '../marketplace.js'
import { defaultTemplate } from '../notification-settings.js'
import { MemoryOutcomeLog } from '../outcome-log.js'
import { SearchIndexService } from '../search-index-service.js'
import { settingsKeys } from '../topics.js'
import { runMarketplaceScenario } from './marketplace-run.js'

let app: SwitchyardApp | undefined
afterEach(async () => {
  await app?.stop()
  app = undefined
})

it('handles 1,000 registrations on memory exactly as on a broker', async () => {
  const outcomes = new MemoryOutcomeLog()
  app = await startMarketplace(
    [
      ...serviceClasses.notifications,
      ...serviceClasses['search-index'],
      ...serviceClasses.worker,
      ...serviceClasses.registration,
    ],
    { outcomes, env: { TRANSPORT: 'memory', REGISTRATION_PORT: '0' } },
  )
  expect(app.transport.kind).toBe('memory')
  expect(app.handlers.map((h) => `${h.subscription.topic}/${h.subscription.group}`).sort()).toEqual([
    'file.uploaded/file-workers',
    'talent.registered.dlq/dead-letter-audit',
    'talent.registered/notifications',
    'talent.registered/search-index',
  ])
  const store = app.configStore
  if (!store) throw new Error('the app has no config store')
  await store.put(settingsKeys.notifications, { template: defaultTemplate })
  // Registrations go through the registration service's HTTP endpoint, as in the broker test.
  const listening = outcomes.of('listening')[0]
  if (!listening) throw new Error('registration did not report its port')

  const { templateChangeMs } = await runMarketplaceScenario({
    publish: async (from, count) => {
      const url = `http://127.0.0.1:${listening.port}/registrations?from=${from}&count=${count}`
      const res = await fetch(url, { method: 'POST' })
      expect(res.status).toBe(200)
      expect(await res.json()).toMatchObject({ registrations: count, jobs: count })
    },
    outcomes: () => outcomes.outcomes,
    setTemplate: async (template) => {
      await store.put(settingsKeys.notifications, { template })
    },
    phaseTimeoutMs: 20_000,
  })
  console.info(`memory: the new template was in use ${templateChangeMs} ms after the change`)
  const refused = await fetch(`http://127.0.0.1:${listening.port}/registrations?from=0&count=0`, {
    method: 'POST',
  })
  expect(refused.status).toBe(400)
  // The services are container singletons: the index the handlers filled is the one resolved here.
  expect(app.container.resolve(SearchIndexService).index.size).toBe(120)
}, 60_000)
