/**
 * The live broker switch, end to end: three `load` processes (each a file worker that also
 * publishes ≈450 jobs/s, so ≥ 1,000 msg/s are offered in total) run from `dist/` with
 * `MARKETPLACE_LIVE_SWITCH=1`, their transport chosen by a document in etcd. While the load runs
 * the document goes RabbitMQ → Kafka → an invalid document (refused by every instance, which stay
 * on Kafka) → RabbitMQ. Every job a broker confirmed must then have been processed (zero loss);
 * the test prints the duplicates and the switch times. Outcomes are read from one JSON-lines file
 * per process, not through a broker.
 *
 * Needs Kafka, RabbitMQ and etcd. Run under the brokers lock:
 *   flock /tmp/switchyard-brokers.lock npx vitest run --project integration examples/talent-marketplace/src/__tests__/live-switch.integration.test.ts
 */
import 'reflect-metadata'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { etcdConnection, kafkaConnection, rabbitmqConnection } from '@switchyard/brokers'
import type { Transport } from '@switchyard/core'
import { EtcdConfigStore } from '@switchyard/etcd'
import { KafkaTransport } from '@switchyard/kafka'
import { RabbitMqTransport } from '@switchyard/rabbitmq'
import { afterAll, beforeAll, expect, it } from 'vitest'
import type { Outcome, StampedOutcome } from '../outcome-log.js'
import { waitFor } from '../wait-for.js'
import {
  buildExample,
  OutcomeFile,
  type ServiceProcess,
  spawnService,
  stopGracefully,
} from './service-processes.js'

beforeAll(buildExample, 200_000)

const instances = ['load-1', 'load-2', 'load-3'] as const
const ratePerInstance = 450
const run = `switch-${randomBytes(4).toString('hex')}`
const topic = `${run}.file.uploaded`
const group = `${run}.file-workers`
const dir = mkdtempSync(join(tmpdir(), `marketplace-${run}-`))
const stopFile = join(dir, 'stop-load')
const secretKey = randomBytes(32)
const store = new EtcdConfigStore({
  endpoints: etcdConnection.endpoints,
  namespace: `/switchyard-test/marketplace/${run}/`,
  secrets: { current: { id: 'test', key: new Uint8Array(secretKey) } },
})
const rabbitmqDocument = {
  kind: 'rabbitmq',
  host: rabbitmqConnection.host,
  port: rabbitmqConnection.port,
  vhost: rabbitmqConnection.vhost,
  username: rabbitmqConnection.username,
  password: store.secret(rabbitmqConnection.password),
}
const kafkaDocument = { kind: 'kafka', brokers: kafkaConnection.brokers, clientId: 'talent-marketplace' }
/** Invalid: `brokers` must be a list. */
const invalidDocument = { kind: 'kafka', brokers: kafkaConnection.brokers.join(',') }

const children = new Map<string, ServiceProcess>()
const files = instances.map((label) => new OutcomeFile(join(dir, `${label}.jsonl`)))
const outcomes = (): StampedOutcome[] => {
  for (const f of files) f.poll()
  return files.flatMap((f) => f.outcomes)
}
type Of<K extends Outcome['type']> = Extract<StampedOutcome, { type: K }>
const of = <K extends Outcome['type']>(type: K): Of<K>[] =>
  outcomes().filter((o): o is Of<K> => o.type === type)
const transportEvents = (event: string, revision: string) =>
  of('transport-event').filter((e) => e.event === event && e.revision === revision)
const confirmedOn = (kind: string) =>
  of('jobs-published')
    .filter((o) => o.transport === kind)
    .reduce((n, o) => n + o.jobIds.length, 0)
const logs = () =>
  [...children]
    .map(([label, c]) => `--- ${label} (exit ${c.child.exitCode})\n${c.output.join('')}`)
    .join('\n')

afterAll(async () => {
  for (const { child } of children.values()) if (child.exitCode === null) child.kill('SIGKILL')
  const cleaners: Transport[] = [
    new RabbitMqTransport({
      host: rabbitmqConnection.host,
      port: rabbitmqConnection.port,
      vhost: rabbitmqConnection.vhost,
      username: rabbitmqConnection.username,
      password: rabbitmqConnection.password,
    }),
    new KafkaTransport({ brokers: kafkaConnection.brokers }),
  ]
  for (const t of cleaners) {
    for (const name of [topic, `${topic}.dlq`])
      await t.deprovision(name, { groups: [group] }).catch(() => undefined)
    await t.close().catch(() => undefined)
  }
  await store.delete('transport').catch(() => undefined)
  await store.close()
  rmSync(dir, { recursive: true, force: true })
}, 60_000)

/** Puts a document and waits until all three instances report `event` for its revision. */
async function switchTo(
  document: Record<string, unknown>,
  event: string,
): Promise<{ putAt: number; revision: string }> {
  const putAt = Date.now()
  const { revision } = await store.put('transport', document)
  await waitFor(
    `${event} by all ${instances.length} instances (revision ${revision})`,
    () => {
      const exited = [...children].find(([, c]) => c.child.exitCode !== null)
      if (exited) throw new Error(`${exited[0]} exited with code ${exited[1].child.exitCode}`)
      return transportEvents(event, revision).length === instances.length
    },
    150_000,
    100,
  )
  return { putAt, revision }
}

/** Lets the load run until `count` more jobs were confirmed on `kind`. */
async function loadOn(kind: string, count: number): Promise<void> {
  const start = confirmedOn(kind)
  await waitFor(
    `${count} more jobs confirmed on ${kind}`,
    () => confirmedOn(kind) >= start + count,
    60_000,
    100,
  )
}

it('switches RabbitMQ → Kafka → (invalid, refused) → RabbitMQ under load without losing a confirmed job', async () => {
  await store.put('transport', rabbitmqDocument)
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    SWITCHYARD_ETCD_ENDPOINTS: etcdConnection.endpoints.join(','),
    SWITCHYARD_ETCD_NAMESPACE: `/switchyard-test/marketplace/${run}/`,
    SWITCHYARD_SECRETS_KEY: secretKey.toString('base64'),
    SWITCHYARD_SECRETS_KEY_ID: 'test',
    SWITCHYARD_TRANSPORT_KEY: 'transport',
    MARKETPLACE_PREFIX: `${run}.`,
    MARKETPLACE_LIVE_SWITCH: '1',
    LOAD_RATE: String(ratePerInstance),
    LOAD_SECONDS: '240', // upper bound; the test ends the load earlier with the stop file
    LOAD_STOP_FILE: stopFile,
  }
  delete env.TRANSPORT
  try {
    for (const label of instances) {
      children.set(label, spawnService('load', { ...env, OUTCOMES_FILE: join(dir, `${label}.jsonl`) }))
    }
    await waitFor('the instances to be ready', () => of('ready').length === instances.length, 60_000, 50)
    await loadOn('rabbitmq', 3_000)

    const toKafka = await switchTo(kafkaDocument, 'transport-switched')
    await loadOn('kafka', 3_000)

    const invalid = await switchTo(invalidDocument, 'transport-switch-refused')
    for (const refused of transportEvents('transport-switch-refused', invalid.revision)) {
      expect(refused.current).toBe('kafka')
      expect(refused.reason).toContain('brokers')
    }
    expect(transportEvents('transport-switch-started', invalid.revision)).toEqual([])
    await loadOn('kafka', 3_000) // still on Kafka, still confirmed

    const toRabbitmq = await switchTo(rabbitmqDocument, 'transport-switched')
    await loadOn('rabbitmq', 3_000)
    writeFileSync(stopFile, 'stop')
    await waitFor('the load to end', () => of('load-done').length === instances.length, 60_000, 100)

    // Offered load: ≥ 1,000 msg/s over the whole run, switches included.
    const done = of('load-done')
    const offered = done.reduce((n, o) => n + o.offered, 0)
    const seconds = (Math.max(...done.map((o) => o.at)) - Math.min(...done.map((o) => o.startedAt))) / 1000
    const confirmed = new Set(of('jobs-published').flatMap((o) => o.jobIds))
    const unconfirmed = of('jobs-unconfirmed').reduce((n, o) => n + o.jobIds.length, 0)
    expect(confirmed.size + unconfirmed).toBe(offered)

    // Zero loss: every confirmed job is processed (at least once).
    const processed = () => of('job-processed')
    await waitFor(
      'every confirmed job to be processed',
      () => {
        const seen = new Set(processed().map((o) => o.jobId))
        for (const id of confirmed) if (!seen.has(id)) return false
        return true
      },
      180_000,
      250,
    )
    const all = processed()
    const unique = new Set(all.map((o) => o.jobId))
    const missing = [...confirmed].filter((id) => !unique.has(id))
    expect(missing).toEqual([])
    // When each repeated processing happened: during a switch (document put → old broker closed everywhere) or not.
    const firstSeen = new Set<string>()
    const repeats = all.filter((o) => {
      if (firstSeen.has(o.jobId)) return true
      firstSeen.add(o.jobId)
      return false
    })
    const closedAt = (at: { putAt: number; revision: string }) =>
      Math.max(...transportEvents('transport-switched', at.revision).map((e) => e.at))
    const during = (at: { putAt: number; revision: string }) =>
      repeats.filter((o) => o.at >= at.putAt && o.at <= closedAt(at) + 5_000).length

    const report = (name: string, at: { putAt: number; revision: string }) => {
      const switched = transportEvents('transport-switched', at.revision)
      const moved = Math.max(...switched.map((e) => e.publishMovedAt ?? 0)) - at.putAt
      const closed = Math.max(...switched.map((e) => e.at)) - at.putAt
      const forwarded = switched.reduce((n, e) => n + (e.forwarded ?? 0), 0)
      const bound = switched.reduce((n, e) => n + (e.possibleDuplicates ?? 0), 0)
      const leftBehind = switched.reduce((n, e) => n + (e.leftBehind ?? 0), 0)
      expect(leftBehind).toBe(0)
      const each = switched.map((e) => e.durationMs).join(' / ')
      return `${name}: publish on the new broker everywhere ${moved} ms after the document changed, old broker closed everywhere after ${closed} ms (per instance ${each} ms), ${forwarded} forwarded, ≤ ${bound} possible duplicates reported`
    }
    console.info(
      [
        `live switch under load: ${offered} jobs offered in ${seconds.toFixed(1)} s (${Math.round(offered / seconds)} msg/s by 3 instances)`,
        `confirmed ${confirmed.size}, unconfirmed ${unconfirmed}, processed ${all.length} (${unique.size} distinct), lost 0, duplicates ${all.length - unique.size} (${during(toKafka)} while/just after switching to Kafka, ${during(toRabbitmq)} to RabbitMQ)`,
        report('RabbitMQ → Kafka', toKafka),
        `invalid document: refused by all 3 instances, every one stayed on Kafka`,
        report('Kafka → RabbitMQ', toRabbitmq),
      ].join('\n'),
    )
    expect(offered / seconds).toBeGreaterThanOrEqual(1_000)
  } catch (error) {
    console.error(logs())
    throw error
  }

  // Graceful shutdown: SIGTERM drains every instance, which then exits with code 0.
  expect(await stopGracefully(children.values()), logs()).toEqual(instances.map(() => 0))
}, 420_000)
