/**
 * The broker manager against the real brokers: `up` is idempotent (reuses the same processes), and
 * `restart(broker)` keeps data — a message or key written before the restart is read after it.
 * Uses the raw clients (kafkajs, amqplib, etcd3, pg): this package tests brokers, not Switchyard.
 */
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { connect } from 'amqplib'
import { Etcd3 } from 'etcd3'
import { Kafka, type KafkaMessage, logLevel } from 'kafkajs'
import pg from 'pg'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  etcdAuthConnection,
  etcdConnection,
  kafkaConnection,
  postgresConnection,
  rabbitmqConnection,
  restart,
  up,
} from '../index.js'

const suffix = (): string => randomBytes(4).toString('hex')

/** Rejects when `promise` has not settled within `ms`. */
const within = <T>(ms: number, what: string, promise: Promise<T>): Promise<T> => {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

beforeAll(async () => {
  await up('all')
}, 300_000)

describe('up', () => {
  it('reuses running brokers: a second call starts nothing and reports the same pids', async () => {
    const first = await up('all')
    const second = await up('all')
    expect(second.map((r) => r.broker)).toEqual([
      'kafka',
      'rabbitmq',
      'etcd',
      'etcd-auth',
      'etcd-tls',
      'redis',
      'postgres',
      'nats',
      'nats-auth',
    ])
    expect(second.map((r) => r.action)).toEqual(second.map(() => 'reused'))
    expect(second.map((r) => r.pid)).toEqual(first.map((r) => r.pid))
    for (const result of second) expect(result.pid).toBeGreaterThan(1)
  })
})

describe('restart keeps data', () => {
  it('kafka: a message produced before the restart is consumed after it', async () => {
    const kafka = new Kafka({
      clientId: 'brokers-test',
      brokers: kafkaConnection.brokers,
      logLevel: logLevel.NOTHING,
    })
    const topic = `brokers-restart-${suffix()}`
    const admin = kafka.admin()
    await admin.connect()
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true })
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
    await producer.send({
      topic,
      acks: -1,
      messages: [{ key: 'k1', value: 'before-restart', headers: { h: 'v' } }],
    })
    await producer.disconnect()
    await admin.disconnect()
    const [before] = await up('kafka')

    const [after] = await restart('kafka')
    expect(after?.action).toBe('started')
    expect(after?.pid).not.toBe(before?.pid)

    const groupId = `brokers-restart-${suffix()}`
    const consumer = kafka.consumer({ groupId })
    await consumer.connect()
    try {
      await consumer.subscribe({ topic, fromBeginning: true })
      const received = new Promise<KafkaMessage>((resolve) => {
        void consumer.run({ eachMessage: async ({ message }) => resolve(message) })
      })
      const message = await within(60_000, `consuming ${topic}`, received)
      expect(message.key?.toString()).toBe('k1')
      expect(message.value?.toString()).toBe('before-restart')
      expect(message.headers?.h?.toString()).toBe('v')
    } finally {
      await consumer.disconnect()
    }
    const cleanup = kafka.admin()
    await cleanup.connect()
    await cleanup.deleteTopics({ topics: [topic] })
    await cleanup.deleteGroups([groupId])
    await cleanup.disconnect()
  })

  it('rabbitmq: a persistent message in a durable queue survives the restart', async () => {
    const queue = `brokers-restart-${suffix()}`
    const before = await connect(rabbitmqConnection.url)
    const channel = await before.createConfirmChannel()
    await channel.assertQueue(queue, { durable: true })
    channel.sendToQueue(queue, Buffer.from('before-restart'), { persistent: true, headers: { h: 'v' } })
    await channel.waitForConfirms()
    await before.close()

    const [after] = await restart('rabbitmq')
    expect(after?.action).toBe('started')

    const connection = await connect(rabbitmqConnection.url)
    try {
      const reader = await connection.createChannel()
      const deadline = Date.now() + 15_000
      let message = await reader.get(queue, { noAck: true })
      while (message === false && Date.now() < deadline) {
        await sleep(100)
        message = await reader.get(queue, { noAck: true })
      }
      expect(message).not.toBe(false)
      if (message === false) return
      expect(message.content.toString()).toBe('before-restart')
      expect(message.properties.headers?.h).toBe('v')
      expect(await reader.get(queue, { noAck: true })).toBe(false)
      await reader.deleteQueue(queue)
    } finally {
      await connection.close()
    }
  })

  it('etcd: keys written before the restart are read after it, on the plain and the auth server', async () => {
    const key = `brokers-test/restart/${suffix()}`
    const auth = { username: etcdAuthConnection.username, password: etcdAuthConnection.password }
    const plainBefore = new Etcd3({ hosts: etcdConnection.endpoints })
    const authBefore = new Etcd3({ hosts: etcdAuthConnection.endpoints, auth })
    await plainBefore.put(key).value('plain-before-restart')
    await authBefore.put(key).value('auth-before-restart')
    plainBefore.close()
    authBefore.close()

    const results = await restart('etcd')
    expect(results.map((r) => [r.broker, r.action])).toEqual([
      ['etcd', 'started'],
      ['etcd-auth', 'started'],
      ['etcd-tls', 'started'],
    ])

    const plain = new Etcd3({ hosts: etcdConnection.endpoints })
    const authed = new Etcd3({ hosts: etcdAuthConnection.endpoints, auth })
    try {
      expect(await plain.get(key).string()).toBe('plain-before-restart')
      expect(await authed.get(key).string()).toBe('auth-before-restart')
      await plain.delete().key(key)
      await authed.delete().key(key)
      expect(await plain.get(key).string()).toBeNull()
    } finally {
      plain.close()
      authed.close()
    }
  })
})

describe('restart keeps data: postgres', () => {
  it('a committed row is read after the restart', async () => {
    const { host, port, user, password, database } = postgresConnection
    const schema = `sy_restart_${suffix()}`
    const query = async <R extends pg.QueryResultRow>(text: string): Promise<R[]> => {
      const client = new pg.Client({ host, port, user, password, database, connectionTimeoutMillis: 5_000 })
      await client.connect()
      try {
        return (await client.query<R>(text)).rows
      } finally {
        await client.end()
      }
    }
    await query(`CREATE SCHEMA "${schema}"`)
    try {
      await query(`CREATE TABLE "${schema}".kept (v text)`)
      await query(`INSERT INTO "${schema}".kept VALUES ('before-restart')`)
      const [result] = await restart('postgres')
      expect(result?.action).toBe('started')
      expect(await query<{ v: string }>(`SELECT v FROM "${schema}".kept`)).toEqual([{ v: 'before-restart' }])
    } finally {
      await query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    }
  })
})

describe('etcd with authentication', () => {
  it('refuses a wrong password and a missing user', async () => {
    const key = `brokers-test/auth/${suffix()}`
    const wrong = new Etcd3({
      hosts: etcdAuthConnection.endpoints,
      auth: { username: etcdAuthConnection.username, password: `${etcdAuthConnection.password}-wrong` },
    })
    const anonymous = new Etcd3({ hosts: etcdAuthConnection.endpoints })
    try {
      await expect(wrong.put(key).value('x')).rejects.toThrow(
        /authentication failed|invalid user ID or password/i,
      )
      await expect(anonymous.put(key).value('x')).rejects.toThrow(/user name is empty|permission denied/i)
    } finally {
      wrong.close()
      anonymous.close()
    }
  })
})
