/**
 * End to end on the in-memory transport: every service of the marketplace in this one process,
 * wired by `@switchyard/di` from `TRANSPORT=memory`, driven through the shared scenario
 * (1,000 registrations, a live template change, then searches answered by request–reply) — the
 * same assertions as on the brokers. Also: how `GET /talents` fails when nobody answers.
 */
import 'reflect-metadata'
import type { SwitchyardApp } from '@switchyard/di'
import { afterEach, expect, it, vi } from 'vitest'
import { serviceClasses, startMarketplace } from '../marketplace.js'
import { defaultTemplate } from '../notification-settings.js'
import { NotificationsService } from '../notifications-service.js'
import { MemoryOutcomeLog } from '../outcome-log.js'
import { SearchIndexService } from '../search-index-service.js'
import { settingsKeys } from '../topics.js'
import { assertSearch, runMarketplaceScenario } from './marketplace-run.js'

let app: SwitchyardApp | undefined
afterEach(async () => {
  vi.unstubAllEnvs()
  await app?.stop()
  app = undefined
})

/** The port the registration HTTP endpoint reported. */
function portOf(outcomes: MemoryOutcomeLog): number {
  const listening = outcomes.of('listening')[0]
  if (!listening) throw new Error('registration did not report its port')
  return listening.port
}

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
    'talent.registered/search-index',
  ])
  // Subscribed by the services in onStart: the dedupe'd notifications and the search responder.
  const notifications = app.container.resolve(NotificationsService).subscription
  expect([notifications?.topic, notifications?.group]).toEqual(['talent.registered', 'notifications'])
  const replies = app.container.resolve(SearchIndexService).replies
  expect([replies?.topic, replies?.group]).toEqual(['search.talents', 'search-queries'])
  const store = app.configStore
  if (!store) throw new Error('the app has no config store')
  await store.put(settingsKeys.notifications, { template: defaultTemplate })
  // Registrations go through the registration service's HTTP endpoint, as in the broker test.
  const listening = { port: portOf(outcomes) }

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
  await assertSearch(listening.port)
}, 60_000)

it('answers 504 to a search nobody replies to in time, and 400 to a bad limit', async () => {
  vi.stubEnv('SEARCH_TIMEOUT_MS', '300')
  const outcomes = new MemoryOutcomeLog()
  // The registration service alone: nothing answers `search.talents` (memory cannot tell, so the
  // request runs into its timeout rather than failing as "no responder").
  app = await startMarketplace(serviceClasses.registration, { outcomes, env: { TRANSPORT: 'memory' } })
  const base = `http://127.0.0.1:${portOf(outcomes)}`
  const res = await fetch(`${base}/talents?category=design`)
  expect(res.status).toBe(504)
  expect(await res.json()).toMatchObject({ error: 'TimeoutError' })
  const bad = await fetch(`${base}/talents?limit=many`)
  expect(bad.status).toBe(400)
})
