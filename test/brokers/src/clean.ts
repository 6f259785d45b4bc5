/**
 * `clean`: deletes what test runs left on the test brokers — every non-internal Kafka topic and
 * every consumer group, and everything in RabbitMQ's test vhost (queues, exchanges, bindings) — so
 * that a run starts from an empty broker. Leftovers pile up over runs (thousands of partitions and
 * queues) and slow broker restarts. It deletes data: run it before a test run, never during one.
 * It touches only the brokers of the test environment (`env.ts`), never RabbitMQ's other vhosts.
 */
import { Kafka, logLevel } from 'kafkajs'
import { BrokerError } from './broker.js'
import { kafkaConnection, rabbitmqConnection } from './env.js'
import { cleanNatsStreams } from './nats.js'
import { cleanPostgresSchemas } from './postgres.js'
import { ctlOrFail, ensureVhostAndUser } from './rabbitmq.js'
import { cleanRedisStreams } from './redis.js'

/** What `clean` removed from one broker. */
export interface CleanResult {
  readonly broker: 'kafka' | 'rabbitmq' | 'redis' | 'nats' | 'postgres'
  /** Kafka: topics and groups; RabbitMQ: queues and (non-default) exchanges. */
  readonly removed: Readonly<Record<string, number>>
  readonly ms: number
}

/** Topics deleted per request: large enough to be quick, small enough for the request timeout. */
const topicBatch = 100

/** Deletes every Kafka topic except the internal ones (`__…`) and every consumer group. */
export const cleanKafka = async (): Promise<CleanResult> => {
  const began = Date.now()
  const kafka = new Kafka({
    clientId: 'switchyard-brokers-clean',
    brokers: kafkaConnection.brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3000,
    requestTimeout: 30_000,
    retry: { retries: 2 },
  })
  const admin = kafka.admin()
  try {
    await admin.connect()
    const groups = (await admin.listGroups()).groups.map((g) => g.groupId)
    let deletedGroups = 0
    if (groups.length > 0) {
      try {
        deletedGroups = (await admin.deleteGroups(groups)).length
      } catch (error) {
        // Groups with live members cannot be deleted; the rest were.
        const failed = (error as { groups?: unknown[] }).groups?.length ?? groups.length
        deletedGroups = groups.length - failed
      }
    }
    const topics = (await admin.listTopics()).filter((t) => !t.startsWith('__'))
    for (let i = 0; i < topics.length; i += topicBatch) {
      await admin.deleteTopics({ topics: topics.slice(i, i + topicBatch), timeout: 30_000 })
    }
    return {
      broker: 'kafka',
      removed: { topics: topics.length, groups: deletedGroups },
      ms: Date.now() - began,
    }
  } catch (error) {
    throw new BrokerError('kafka', `clean failed: ${error instanceof Error ? error.message : String(error)}`)
  } finally {
    await admin.disconnect().catch(() => {})
  }
}

const lines = (text: string): string[] =>
  text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0)

/** Deletes the test vhost with everything in it and creates it again, with the test user's rights. */
export const cleanRabbitmq = async (): Promise<CleanResult> => {
  const began = Date.now()
  const { vhost } = rabbitmqConnection
  const list = async (what: 'queues' | 'exchanges'): Promise<string[]> =>
    lines(await ctlOrFail([`list_${what}`, '-p', vhost, '-q', '--no-table-headers', 'name']))
  const queues = (await list('queues')).length
  const exchanges = (await list('exchanges')).filter(
    (name) => name !== 'name' && !name.startsWith('amq.'),
  ).length
  await ctlOrFail(['delete_vhost', vhost], 300_000)
  await ensureVhostAndUser()
  return { broker: 'rabbitmq', removed: { queues, exchanges }, ms: Date.now() - began }
}

/** Deletes every stream of the test Redis. */
export const cleanRedis = async (): Promise<CleanResult> => {
  const began = Date.now()
  return { broker: 'redis', removed: { streams: await cleanRedisStreams() }, ms: Date.now() - began }
}

/** Deletes every stream of the NATS test server. */
export const cleanNats = async (): Promise<CleanResult> => {
  const began = Date.now()
  return { broker: 'nats', removed: { streams: await cleanNatsStreams() }, ms: Date.now() - began }
}

/** Drops every test schema (`sy_…`) of the test PostgreSQL. */
export const cleanPostgres = async (): Promise<CleanResult> => {
  const began = Date.now()
  return { broker: 'postgres', removed: { schemas: await cleanPostgresSchemas() }, ms: Date.now() - began }
}

/** Cleans Kafka, RabbitMQ, Redis, NATS, PostgreSQL or all (etcd keys are per-test prefixes and are left alone). */
export const clean = async (
  which: 'kafka' | 'rabbitmq' | 'redis' | 'nats' | 'postgres' | 'all' = 'all',
): Promise<CleanResult[]> => {
  const results: CleanResult[] = []
  if (which === 'all' || which === 'kafka') results.push(await cleanKafka())
  if (which === 'all' || which === 'rabbitmq') results.push(await cleanRabbitmq())
  if (which === 'all' || which === 'redis') results.push(await cleanRedis())
  if (which === 'all' || which === 'nats') results.push(await cleanNats())
  if (which === 'all' || which === 'postgres') results.push(await cleanPostgres())
  return results
}
