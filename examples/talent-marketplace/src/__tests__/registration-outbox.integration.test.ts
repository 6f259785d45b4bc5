/**
 * The marketplace with a database: `MARKETPLACE_DATABASE_URL` points registration at the broker
 * manager's PostgreSQL, so each batch of registrations is one transaction writing the talents and
 * their events into the outbox, and the registration service's relay publishes them. Every service
 * runs in this process on the in-memory transport; the shared scenario (1,000 registrations, a live
 * template change) must give exactly the outcome it gives without the outbox.
 */
import 'reflect-metadata'
import { randomUUID } from 'node:crypto'
import { postgresConnection } from '@switchyard/brokers'
import type { SwitchyardApp } from '@switchyard/di'
import pg from 'pg'
import { afterEach, expect, it } from 'vitest'
import { serviceClasses, startMarketplace } from '../marketplace.js'
import { defaultTemplate } from '../notification-settings.js'
import { MemoryOutcomeLog } from '../outcome-log.js'
import { RegistrationService } from '../registration-service.js'
import { settingsKeys } from '../topics.js'
import { runMarketplaceScenario, total } from './marketplace-run.js'

const { host, port, user, password, database } = postgresConnection
const url = `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${host}:${port}/${database}`
const admin = new pg.Pool({ host, port, user, password, database, max: 1 })
const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

it('registration writes talents and events in one transaction; the relay publishes them with the same outcome', async () => {
  const schema = `sy_market_${randomUUID().replaceAll('-', '').slice(0, 12)}`
  await admin.query(`CREATE SCHEMA "${schema}"`)
  cleanups.push(async () => {
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    await admin.end()
  })
  const outcomes = new MemoryOutcomeLog()
  let app: SwitchyardApp | undefined = await startMarketplace(
    [
      ...serviceClasses.notifications,
      ...serviceClasses['search-index'],
      ...serviceClasses.worker,
      ...serviceClasses.registration,
    ],
    {
      outcomes,
      env: {
        TRANSPORT: 'memory',
        REGISTRATION_PORT: '0',
        MARKETPLACE_DATABASE_URL: url,
        MARKETPLACE_DATABASE_SCHEMA: schema,
      },
    },
  )
  cleanups.push(async () => {
    await app?.stop()
  })
  const registration = app.container.resolve(RegistrationService)
  expect(registration.relay).toBeDefined()
  const store = app.configStore
  if (!store) throw new Error('the app has no config store')
  await store.put(settingsKeys.notifications, { template: defaultTemplate })

  await runMarketplaceScenario({
    publish: async (from, count) => {
      await registration.publishRange(from, count)
    },
    outcomes: () => outcomes.outcomes,
    setTemplate: async (template) => {
      await store.put(settingsKeys.notifications, { template })
    },
    phaseTimeoutMs: 30_000,
  })

  // Everything went through the outbox: each registration's event(s) and its job, all sent.
  const rows = await admin.query<{ topic: string; n: number; unsent: number }>(
    `SELECT topic, count(*)::int AS n, count(*) FILTER (WHERE sent_at IS NULL)::int AS unsent
     FROM "${schema}".switchyard_outbox GROUP BY topic ORDER BY topic`,
  )
  const byTopic = Object.fromEntries(rows.rows.map((r) => [r.topic, r]))
  expect(byTopic['file.uploaded']).toMatchObject({ n: total, unsent: 0 })
  expect(byTopic['talent.registered']?.n).toBeGreaterThan(total) // the generator's deliberate duplicates
  expect(byTopic['talent.registered']?.unsent).toBe(0)
  expect(registration.relay?.status().published).toBe(rows.rows.reduce((n, r) => n + r.n, 0))
  // The talents table holds the latest version of each talent the events described.
  const talents = await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${schema}".talents`)
  const indexed = new Set(outcomes.of('indexed').map((o) => o.talentId))
  expect(talents.rows[0]?.n).toBe(indexed.size)
  await app.stop()
  app = undefined
}, 120_000)
