/**
 * Test fixtures of `@switchyard/postgres`: pools on the broker manager's PostgreSQL (127.0.0.1:5442),
 * each test in a schema of its own (`sy_…`, dropped after), and transports of every kind the
 * outbox is tried on, each closed (and its topics deleted) after the test.
 */
import { randomUUID } from 'node:crypto'
import {
  kafkaConnection,
  natsConnection,
  postgresConnection,
  rabbitmqConnection,
  redisConnection,
} from '@switchyard/brokers'
import type { Transport } from '@switchyard/core'
import { TransportRegistry } from '@switchyard/di'
import { kafkaTransport } from '@switchyard/kafka'
import { memoryTransport } from '@switchyard/memory'
import { natsTransport } from '@switchyard/nats'
import { rabbitmqTransport } from '@switchyard/rabbitmq'
import { redisTransport } from '@switchyard/redis'
import pg from 'pg'
import { afterEach } from 'vitest'

export interface TransportTarget {
  readonly name: string
  readonly config: Record<string, unknown> & { kind: string }
  /** Whether two transports of this config reach the same broker (memory: no, each is its own). */
  readonly shared: boolean
}

export const targets: readonly TransportTarget[] = [
  { name: 'memory', config: { kind: 'memory' }, shared: false },
  { name: 'kafka', config: { kind: 'kafka', brokers: kafkaConnection.brokers }, shared: true },
  { name: 'rabbitmq', config: { kind: 'rabbitmq', url: rabbitmqConnection.url }, shared: true },
  { name: 'redis', config: { kind: 'redis', url: redisConnection.url }, shared: true },
  { name: 'nats', config: { kind: 'nats', servers: natsConnection.servers }, shared: true },
]

const registry = new TransportRegistry([
  memoryTransport,
  kafkaTransport,
  rabbitmqTransport,
  redisTransport,
  natsTransport,
])

/** Connection settings of the test database, for pools and for child processes. */
export const database = {
  host: postgresConnection.host,
  port: postgresConnection.port,
  user: postgresConnection.user,
  password: postgresConnection.password,
  database: postgresConnection.database,
}

/** Per-test resources, released after each test in reverse order. */
export function postgresFixtures() {
  const cleanups: (() => Promise<void>)[] = []
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  })

  /** A schema of this test's own, dropped after it. */
  async function schema(): Promise<string> {
    const name = `sy_${randomUUID().replaceAll('-', '').slice(0, 16)}`
    const admin = pool()
    await admin.query(`CREATE SCHEMA "${name}"`)
    cleanups.push(async () => {
      await admin.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`)
    })
    return name
  }

  /** A pool of the test database, ended after the test. */
  function pool(max = 4): pg.Pool {
    const p = new pg.Pool({ ...database, max, connectionTimeoutMillis: 5_000 })
    p.on('error', () => {}) // an idle client whose session a test terminated
    cleanups.push(() => p.end())
    return p
  }

  /** A connected transport of `target`; its topics are deleted and it is closed after the test. */
  async function transport(target: TransportTarget, topics: string[]): Promise<Transport> {
    const t = await registry.create(target.config)
    cleanups.push(async () => {
      for (const topic of topics) await t.deprovision(topic).catch(() => undefined)
      await t.close({ drain: false })
    })
    await t.connect()
    return t
  }

  return { schema, pool, transport, cleanups }
}

/** Runs `work` in a transaction on a client of `pool`: COMMIT when it resolves, ROLLBACK when `rollback`. */
export async function inTransaction(
  pool: pg.Pool,
  work: (client: pg.PoolClient) => Promise<void>,
  rollback = false,
): Promise<void> {
  const client = await pool.connect()
  try {
    await client.query('BEGIN')
    await work(client)
    await client.query(rollback ? 'ROLLBACK' : 'COMMIT')
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined)
    throw error
  } finally {
    client.release()
  }
}
