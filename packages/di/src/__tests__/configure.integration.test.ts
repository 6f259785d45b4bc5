/**
 * `fromEtcd` and `configStoreFromEnv` against a real etcd: the transport document is read from
 * etcd (secrets opened with the app's key), a bad document is refused at start-up naming the
 * field, and the store opened for it becomes `CONFIG_STORE` and is closed on stop.
 * Run under the brokers lock: flock /tmp/switchyard-brokers.lock npx vitest run --project integration packages/di
 */
import 'reflect-metadata'
import { randomBytes } from 'node:crypto'
import { etcdConnection } from '@switchyard/brokers'
import { type ConfigError, isSwitchyardError } from '@switchyard/core'
import { EtcdConfigStore } from '@switchyard/etcd'
import { kafkaTransport } from '@switchyard/kafka'
import { MemoryTransport } from '@switchyard/memory'
import { rabbitmqTransport } from '@switchyard/rabbitmq'
import { container } from 'tsyringe'
import { afterAll, expect, it } from 'vitest'
import { CONFIG_STORE, configStoreFromEnv, configure, fromEnv, fromEtcd } from '../index.js'

const namespace = `/switchyard-test/di/${randomBytes(4).toString('hex')}/`
const key = { id: 'k1', key: new Uint8Array(randomBytes(32)) }
const admin = new EtcdConfigStore({
  endpoints: etcdConnection.endpoints,
  namespace,
  secrets: { current: key },
})

afterAll(async () => {
  for (const k of ['transport', 'bad', 'rabbit', 'batched', 'bad-batch'])
    await admin.delete(k).catch(() => undefined)
  await admin.close()
})

it('builds the transport named by the document in etcd and owns the store it opened', async () => {
  await admin.put('transport', { kind: 'memory' })
  const app = await configure(container.createChildContainer(), {
    transport: fromEtcd('transport', { endpoints: etcdConnection.endpoints, namespace }),
  })
  expect(app.transport).toBeInstanceOf(MemoryTransport)
  const store = app.container.resolve(CONFIG_STORE)
  expect((await store.get('transport'))?.value).toEqual({ kind: 'memory' })
  await app.start()
  await app.stop()
  await expect(store.get('transport')).rejects.toSatisfy((e) => isSwitchyardError(e, 'TransportClosedError'))
})

it('refuses a bad document at start-up with a ConfigError naming the field', async () => {
  await admin.put('bad', { kind: 'kafka', brokers: ['127.0.0.1'] })
  const error = await configure(container.createChildContainer(), {
    transport: fromEtcd('bad', { endpoints: etcdConnection.endpoints, namespace }),
    transports: [kafkaTransport],
  }).catch((e: unknown) => e)
  expect(isSwitchyardError(error, 'ConfigError')).toBe(true)
  expect((error as ConfigError).context.field).toBe('brokers[0]')
})

it('reads a document with a secret through the environment (etcd endpoints, key, secrets key)', async () => {
  await admin.put('rabbit', { kind: 'rabbitmq', host: '127.0.0.1', port: 1, password: admin.secret('pw') })
  const env = {
    SWITCHYARD_ETCD_ENDPOINTS: etcdConnection.endpoints.join(','),
    SWITCHYARD_ETCD_NAMESPACE: namespace,
    SWITCHYARD_SECRETS_KEY: Buffer.from(key.key).toString('base64'),
    SWITCHYARD_SECRETS_KEY_ID: key.id,
    SWITCHYARD_TRANSPORT_KEY: 'rabbit',
  }
  const app = await configure(container.createChildContainer(), {
    configStore: configStoreFromEnv(env),
    transport: fromEnv({ env }),
    transports: [rabbitmqTransport],
  })
  expect(app.transport.kind).toBe('rabbitmq') // built, not connected (port 1)
  await app.stop({ timeoutMs: 1_000 })
})

it('reads the publish batching bounds of a document in etcd, and refuses a bad one naming the field', async () => {
  await admin.put('batched', {
    kind: 'rabbitmq',
    host: '127.0.0.1',
    port: 1,
    confirmWindows: 2,
    publish: { maxBatchMessages: 500, lingerMs: 1, whenFull: 'reject' },
  })
  const built: unknown[] = []
  const recording = {
    ...rabbitmqTransport,
    create: (options: object, publish?: object) => {
      built.push(publish)
      return rabbitmqTransport.create(options, publish)
    },
  }
  const app = await configure(container.createChildContainer(), {
    transport: fromEtcd('batched', { endpoints: etcdConnection.endpoints, namespace }),
    transports: [recording],
  })
  expect(built).toEqual([{ maxBatchMessages: 500, lingerMs: 1, whenFull: 'reject' }])
  await app.stop({ timeoutMs: 1_000 })
  await admin.put('bad-batch', { kind: 'memory', publish: { maxBatchBytes: -1 } })
  const error = await configure(container.createChildContainer(), {
    transport: fromEtcd('bad-batch', { endpoints: etcdConnection.endpoints, namespace }),
  }).catch((e: unknown) => e)
  expect(isSwitchyardError(error, 'ConfigError')).toBe(true)
  expect((error as ConfigError).context.field).toBe('publish.maxBatchBytes')
})
