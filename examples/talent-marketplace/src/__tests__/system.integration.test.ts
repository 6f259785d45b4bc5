/**
 * End to end on real brokers: each service of the marketplace runs as its own process, started
 * from the built `dist/` exactly as in production (`node dist/notifications.js` …), with the
 * transport chosen by the transport document in etcd — the only thing that differs between the
 * Kafka and the RabbitMQ run. The same scenario and assertions as the in-memory test
 * (marketplace-run.ts), then searches through the registration process's `GET /talents`, which
 * asks the search-index process by request–reply; services report outcomes to one JSON-lines
 * file per process. On Redis the notifications' dedup store is Redis (dedup-store.ts): the run
 * checks its keys are there, then deletes them with the topics.
 *
 * Needs Kafka, RabbitMQ and etcd (`npm run brokers -- up all`). Run under the brokers lock:
 *   flock /tmp/switchyard-brokers.lock npx vitest run --project integration examples/talent-marketplace
 */
import 'reflect-metadata'
import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  etcdConnection,
  kafkaConnection,
  natsConnection,
  rabbitmqConnection,
  redisConnection,
} from '@switchyard/brokers'
import type { ConfigStore } from '@switchyard/config'
import { TransportRegistry } from '@switchyard/di'
import { EtcdConfigStore } from '@switchyard/etcd'
import { kafkaTransport } from '@switchyard/kafka'
import { natsTransport } from '@switchyard/nats'
import { rabbitmqTransport } from '@switchyard/rabbitmq'
import { RedisTransport, redisTransport } from '@switchyard/redis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { redisDedupPrefix } from '../dedup-store.js'
import { defaultTemplate } from '../notification-settings.js'
import type { StampedOutcome } from '../outcome-log.js'
import { groups, settingsKeys, topics } from '../topics.js'
import type { SpanLine } from '../tracing.js'
import { waitFor } from '../wait-for.js'
import { assertSearch, runMarketplaceScenario } from './marketplace-run.js'
import { buildExample, OutcomeFile, spawnService, stopGracefully } from './service-processes.js'

/** The transport documents of the runs: the only difference between them. */
const runs: { name: string; document: (store: ConfigStore) => Record<string, unknown> }[] = [
  {
    name: 'kafka',
    document: () => ({ kind: 'kafka', brokers: kafkaConnection.brokers, clientId: 'talent-marketplace' }),
  },
  {
    name: 'rabbitmq',
    document: (store) => ({
      kind: 'rabbitmq',
      host: rabbitmqConnection.host,
      port: rabbitmqConnection.port,
      vhost: rabbitmqConnection.vhost,
      username: rabbitmqConnection.username,
      password: store.secret(rabbitmqConnection.password), // encrypted at rest in etcd
    }),
  },
  {
    name: 'redis',
    document: () => ({ kind: 'redis', url: redisConnection.url }),
  },
  {
    name: 'nats',
    document: () => ({ kind: 'nats', servers: natsConnection.servers }),
  },
]

/** Keys matching `pattern` (a Redis glob), read with SCAN. */
async function redisKeys(transport: RedisTransport, pattern: string): Promise<string[]> {
  const client = transport.client
  if (client === undefined) throw new Error('redis: not connected')
  const keys: string[] = []
  let cursor = '0'
  do {
    const [next, batch] = (await client.sendCommand(['SCAN', cursor, 'MATCH', pattern, 'COUNT', '1000'])) as [
      string,
      string[],
    ]
    keys.push(...batch)
    cursor = next
  } while (cursor !== '0')
  return keys
}

/** Runs `use` on a connected transport built from `document`, then closes it. */
async function withTransport<T>(
  document: Record<string, unknown>,
  use: (transport: Awaited<ReturnType<TransportRegistry['create']>>) => Promise<T>,
): Promise<T> {
  const registry = new TransportRegistry([kafkaTransport, rabbitmqTransport, redisTransport, natsTransport])
  const transport = await registry.create(document, 'cleanup')
  try {
    await transport.connect()
    return await use(transport)
  } finally {
    await transport.close()
  }
}

/** Every topic of the marketplace with the groups that consume it (unprefixed, as in this process). */
const topology: Record<string, readonly string[]> = {
  [topics.talentRegistered]: [groups.notifications, groups.searchIndex],
  [topics.talentRegisteredDlq]: [groups.deadLetterAudit],
  [topics.fileUploaded]: [groups.fileWorkers],
  [topics.searchTalents]: [groups.searchQueries],
}

/**
 * Deletes the run's topics and groups through a transport built from the same document, and on
 * Redis the notifications' dedup keys. `topics` here has no prefix (this process has no
 * MARKETPLACE_PREFIX); the services' have `prefix`. The groups are named: a fresh transport
 * knows of no group to delete (RabbitMQ's group queues, Kafka's groups); then the topic alone
 * (Redis deletes the stream only then).
 */
async function deleteTopics(document: Record<string, unknown>, prefix: string): Promise<void> {
  await withTransport(document, async (transport) => {
    for (const [topic, consumers] of Object.entries(topology)) {
      await transport.deprovision(`${prefix}${topic}`, { groups: consumers.map((g) => `${prefix}${g}`) })
      await transport.deprovision(`${prefix}${topic}`)
    }
    if (transport instanceof RedisTransport) {
      const keys = await redisKeys(transport, `${redisDedupPrefix}${prefix}*`)
      for (const key of keys) await transport.client?.sendCommand(['DEL', key])
    }
  })
}

/** One process per service; two workers compete for jobs. */
const processes = [
  ['notifications', 'notifications'],
  ['search-index', 'search-index'],
  ['worker', 'worker-1'],
  ['worker', 'worker-2'],
  ['registration', 'registration'],
] as const

beforeAll(buildExample, 200_000)

describe.each(runs)('the marketplace on $name, one process per service', ({ name, document }) => {
  const run = `${name}-${randomBytes(4).toString('hex')}`
  const dir = mkdtempSync(join(tmpdir(), `marketplace-${run}-`))
  const namespace = `/switchyard-test/marketplace/${run}/`
  const secretKey = randomBytes(32)
  const store = new EtcdConfigStore({
    endpoints: etcdConnection.endpoints,
    namespace,
    secrets: { current: { id: 'test', key: new Uint8Array(secretKey) } },
  })
  const children = new Map<string, { child: ChildProcess; output: string[] }>()
  const files = processes.map(([, label]) => new OutcomeFile(join(dir, `${label}.jsonl`)))
  const outcomes = (): StampedOutcome[] => {
    for (const f of files) f.poll()
    return files.flatMap((f) => f.outcomes)
  }

  afterAll(async () => {
    for (const { child } of children.values()) if (child.exitCode === null) child.kill('SIGKILL')
    await deleteTopics(document(store), `${run}.`)
    await store.delete('transport').catch(() => undefined)
    await store.delete(settingsKeys.notifications).catch(() => undefined)
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('handles 1,000 registrations with the same outcome as on memory, and stops gracefully', async () => {
    await store.put('transport', document(store))
    await store.put(settingsKeys.notifications, { template: defaultTemplate })
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      SWITCHYARD_ETCD_ENDPOINTS: etcdConnection.endpoints.join(','),
      SWITCHYARD_ETCD_NAMESPACE: namespace,
      SWITCHYARD_SECRETS_KEY: secretKey.toString('base64'),
      SWITCHYARD_SECRETS_KEY_ID: 'test',
      SWITCHYARD_TRANSPORT_KEY: 'transport',
      MARKETPLACE_PREFIX: `${run}.`,
      REGISTRATION_PORT: '0',
    }
    delete env.TRANSPORT
    for (const [service, label] of processes) {
      children.set(
        label,
        spawnService(service, {
          ...env,
          OUTCOMES_FILE: join(dir, `${label}.jsonl`),
          SPANS_FILE: join(dir, `${label}.spans.jsonl`),
        }),
      )
    }
    const logs = () =>
      [...children]
        .map(([label, c]) => `--- ${label} (exit ${c.child.exitCode})\n${c.output.join('')}`)
        .join('\n')

    try {
      await waitFor(
        'every service to be ready',
        () => {
          const exited = [...children].find(([, c]) => c.child.exitCode !== null)
          if (exited) throw new Error(`${exited[0]} exited with code ${exited[1].child.exitCode}`)
          return outcomes().filter((o) => o.type === 'ready').length === processes.length
        },
        60_000,
        50,
      )
      const listening = outcomes().find((o) => o.type === 'listening')
      if (listening?.type !== 'listening') throw new Error('registration did not report its port')

      const { templateChangeMs } = await runMarketplaceScenario({
        publish: async (from, count) => {
          const res = await fetch(
            `http://127.0.0.1:${listening.port}/registrations?from=${from}&count=${count}`,
            {
              method: 'POST',
            },
          )
          if (!res.ok) throw new Error(`registration answered ${res.status}: ${await res.text()}`)
        },
        outcomes,
        setTemplate: async (template) => {
          await store.put(settingsKeys.notifications, { template })
        },
        phaseTimeoutMs: 90_000,
      })
      console.info(`${name}: the new template was in use ${templateChangeMs} ms after the change`)
      // Request–reply across processes: registration asks, the search index answers from its index.
      await assertSearch(listening.port)
      // Where the store is Redis (dedup-store.ts), it holds one key per notified registration id.
      const notified = new Set(
        outcomes().flatMap((o) => (o.type === 'notification-sent' ? [o.registrationId] : [])),
      )
      await withTransport(document(store), async (transport) => {
        if (!(transport instanceof RedisTransport)) return
        const keys = await redisKeys(transport, `${redisDedupPrefix}${run}.notifications:*`)
        expect(keys.length).toBe(notified.size)
      })
      // Both workers took part: jobs were shared between the competing consumers.
      const workers = new Set(outcomes().flatMap((o) => (o.type === 'job-processed' ? [o.worker] : [])))
      expect(workers.size).toBe(2)
      // One trace crosses the processes: a dead-lettered registration's spans (publish, both
      // consumers, the dead-letter copy and its audit) share one trace id across the services.
      const spans = processes.flatMap(([, label]) => {
        const file = join(dir, `${label}.spans.jsonl`)
        if (!existsSync(file)) return []
        return readFileSync(file, 'utf8')
          .split('\n')
          .filter((line) => line !== '')
          .map((line) => JSON.parse(line) as SpanLine)
      })
      const audit = spans.find((s) => s.name.startsWith('process ') && s.name.endsWith('.dlq'))
      const trace = spans.filter((s) => s.traceId === audit?.traceId)
      expect(new Set(trace.map((s) => s.service))).toEqual(
        new Set(['registration', 'notifications', 'search-index']),
      )
      expect(trace.map((s) => s.name.replace(/ .*\.(talent\.registered)/, ' $1')).sort()).toEqual(
        expect.arrayContaining(['process talent.registered', 'process talent.registered.dlq']),
      )
    } catch (error) {
      console.error(logs())
      throw error
    }

    // Graceful shutdown: SIGTERM drains every service, which then exits with code 0.
    const codes = await stopGracefully(children.values())
    expect(codes, logs()).toEqual(processes.map(() => 0))
  }, 200_000)
})
