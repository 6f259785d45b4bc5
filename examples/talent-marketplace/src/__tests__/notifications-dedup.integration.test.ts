/**
 * The notifications service's `dedupe` middleware on Redis, where its store is `RedisDedupStore`
 * (dedup-store.ts): every registration is published twice with the same id, the first copies to
 * one notifications instance, the second copies to another instance of the group started after
 * the first stopped (a restart, or a second process), and still one notification per registration.
 * A store in each process's memory could not promise that: the second instance would send again.
 *
 * Needs Redis (`npm run brokers -- up redis`). Run under the brokers lock:
 *   flock /tmp/switchyard-brokers.lock npx vitest run --project integration examples/talent-marketplace/src/__tests__/notifications-dedup.integration.test.ts
 */
import 'reflect-metadata'
import { randomBytes } from 'node:crypto'
import { redisConnection } from '@switchyard/brokers'
import type { SwitchyardApp } from '@switchyard/di'
import { RedisTransport } from '@switchyard/redis'
import { afterAll, expect, it } from 'vitest'
import { redisDedupPrefix } from '../dedup-store.js'
import { serviceClasses, startMarketplace } from '../marketplace.js'
import { MemoryOutcomeLog } from '../outcome-log.js'
import { registrationAt } from '../talent-generator.js'
import { groups, topics } from '../topics.js'
import { waitFor } from '../wait-for.js'

const run = randomBytes(4).toString('hex')
const streamPrefix = `marketplace-dedup-${run}:`
const env = {
  TRANSPORT: 'redis',
  SWITCHYARD_REDIS_URL: redisConnection.url,
  SWITCHYARD_REDIS_PREFIX: streamPrefix,
}
const apps: SwitchyardApp[] = []
const count = 40

afterAll(async () => {
  for (const app of apps) await app.stop().catch(() => undefined)
  // The streams (with their groups) and the dedup keys of this run.
  const transport = new RedisTransport({ url: redisConnection.url, prefix: streamPrefix })
  try {
    await transport.connect()
    for (const topic of [topics.talentRegistered, topics.talentRegisteredDlq])
      await transport.deprovision(topic)
    for (let i = 0; i < count; i++) {
      await transport.client?.sendCommand(['DEL', `${redisDedupPrefix}${groups.notifications}:${idOf(i)}`])
    }
  } finally {
    await transport.close()
  }
})

/** A registration id of this run only, so dedup keys of other runs never match. */
const idOf = (i: number): string => `reg-${run}-${i}`

it('sends one notification per registration published twice, the copies reaching a second instance', async () => {
  const outcomes = new MemoryOutcomeLog()
  const start = async (): Promise<SwitchyardApp> => {
    const app = await startMarketplace(serviceClasses.notifications, { outcomes, env })
    apps.push(app)
    return app
  }
  const entries = Array.from({ length: count }, (_, i) => {
    const { event } = registrationAt(i * 40 + 1) // valid addresses only: no dead letters here
    return { topic: topics.talentRegistered, payload: event, id: idOf(i), key: event.talentId }
  })
  const handled = () =>
    outcomes.outcomes.filter((o) => o.type === 'notification-sent' || o.type === 'duplicate-skipped').length

  const first = await start()
  expect(first.transport.kind).toBe('redis')
  await first.bus.publishBatch(entries)
  await waitFor('the first copies to be handled', () => handled() === count, 30_000)
  await first.stop() // drains: nothing still running could send again

  const second = await start()
  await second.bus.publishBatch(entries) // the same ids again
  await waitFor('the second copies to be handled', () => handled() === 2 * count, 30_000)
  await second.stop()

  const sent = outcomes.of('notification-sent').map((o) => o.registrationId)
  expect(sent.sort()).toEqual(entries.map((e) => e.id).sort())
  expect(outcomes.of('duplicate-skipped').length).toBe(count)
  // The claims are in Redis, one `done` per registration id.
  const probe = new RedisTransport({ url: redisConnection.url, prefix: streamPrefix })
  try {
    await probe.connect()
    const states = await Promise.all(
      entries.map((e) =>
        probe.client?.sendCommand(['GET', `${redisDedupPrefix}${groups.notifications}:${e.id}`]),
      ),
    )
    expect(new Set(states)).toEqual(new Set(['done']))
  } finally {
    await probe.close()
  }
}, 90_000)
