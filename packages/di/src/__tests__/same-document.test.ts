/**
 * One options schema per adapter: the same document gives the same verdict, issue for issue,
 * through the adapter's constructor, through `configure()` and through the etcd transport document.
 * Nothing connects: adapters are built, never started.
 */
import 'reflect-metadata'
import { randomBytes } from 'node:crypto'
import { MemoryConfigStore } from '@switchyard/config'
import { type ConfigError, isSwitchyardError, type Transport } from '@switchyard/core'
import { readTransportDocument } from '@switchyard/etcd'
import { KafkaTransport, kafkaTransport } from '@switchyard/kafka'
import { MemoryTransport, memoryTransport } from '@switchyard/memory'
import { NatsTransport, natsTransport } from '@switchyard/nats'
import { RabbitMqTransport, rabbitmqTransport } from '@switchyard/rabbitmq'
import { RedisTransport, redisTransport } from '@switchyard/redis'
import { container } from 'tsyringe'
import { afterAll, describe, expect, it } from 'vitest'
import { configure, type TransportConfig } from '../index.js'

const factories = [memoryTransport, kafkaTransport, rabbitmqTransport, redisTransport, natsTransport]
const constructors: Record<string, (document: never) => Transport> = {
  memory: (d) => new MemoryTransport(d),
  kafka: (d) => new KafkaTransport(d),
  rabbitmq: (d) => new RabbitMqTransport(d),
  redis: (d) => new RedisTransport(d),
  nats: (d) => new NatsTransport(d),
}
const store = new MemoryConfigStore({
  secrets: { current: { id: 'k1', key: new Uint8Array(randomBytes(32)) } },
})
const built: Transport[] = []
afterAll(async () => {
  await Promise.all(built.map((t) => t.close()))
  await store.close()
})

/** The document as an operator stores it: each field its factory lists as secret written as a secret. */
function storedForm(document: TransportConfig): Record<string, unknown> {
  const copy: Record<string, unknown> = structuredClone({ ...document })
  const factory = factories.find((f) => f.kind === document.kind)
  for (const path of factory?.secretOptions ?? []) {
    const keys = path.split('.')
    const last = keys.pop() as string
    const parent = keys.reduce<Record<string, unknown> | undefined>(
      (o, k) => o?.[k] as Record<string, unknown> | undefined,
      copy,
    )
    if (parent?.[last] !== undefined) parent[last] = store.secret(parent[last])
  }
  return copy
}

/** `ok`, or the issues of the ConfigError the path threw. */
async function verdict(run: () => Promise<unknown> | unknown): Promise<'ok' | readonly string[]> {
  try {
    const result = await run()
    if (result && typeof (result as Transport).close === 'function') built.push(result as Transport)
    return 'ok'
  } catch (error) {
    if (isSwitchyardError(error, 'ConfigError')) return (error as ConfigError).issues
    throw error
  }
}

const documents: [string, TransportConfig, 'valid' | 'invalid'][] = [
  ['memory with retention', { kind: 'memory', retention: 0 }, 'valid'],
  [
    'kafka with every kind of value',
    { kind: 'kafka', brokers: ['h:9092'], healthCheckIntervalMs: 500, retry: { retries: 3 } },
    'valid',
  ],
  [
    'rabbitmq by url',
    { kind: 'rabbitmq', url: 'amqp://u:p@h:5672/v', prefetch: 16, queueDefaults: { quorum: true } },
    'valid',
  ],
  [
    'kafka with SASL',
    { kind: 'kafka', brokers: ['h:1'], sasl: { mechanism: 'plain', username: 'u', password: 'p' } },
    'valid',
  ],
  ['a bad rabbitmq url', { kind: 'rabbitmq', url: 'http://h', password: 'p' }, 'invalid'],
  ['a typo in rabbitmq', { kind: 'rabbitmq', prefech: 5 }, 'invalid'],
  ['an old document name in kafka', { kind: 'kafka', brokers: ['h:1'], requestTimeout: 5 }, 'invalid'],
  [
    'limits in kafka',
    { kind: 'kafka', brokers: ['h'], partitions: 0, heartbeatIntervalMs: 60_000 },
    'invalid',
  ],
  [
    'a nested typo in rabbitmq',
    { kind: 'rabbitmq', reconnect: { maxDelay: 5 }, groups: { g: { maxPriorty: 3 } } },
    'invalid',
  ],
  ['memory out of range', { kind: 'memory', maxMessageBytes: -1 }, 'invalid'],
  [
    'redis with an ACL user and retention',
    {
      kind: 'redis',
      url: 'redis://h:6379/2',
      username: 'app',
      password: 'p',
      prefix: 'billing:',
      retention: { maxLength: 10_000 },
    },
    'valid',
  ],
  ['a misspelled option in redis', { kind: 'redis', url: 'redis://h:6379', claimIdelMs: 5 }, 'invalid'],
  ['a bad redis url', { kind: 'redis', url: 'http://h:6379' }, 'invalid'],
  ['redis retention by two limits', { kind: 'redis', retention: { maxLength: 5, maxAgeMs: 5 } }, 'invalid'],
  [
    'nats with a user and limits',
    { kind: 'nats', servers: ['h:4222', 'nats://h2:4222'], user: 'u', password: 'p', maxAckPending: 500 },
    'valid',
  ],
  ['nats with an nkey seed', { kind: 'nats', servers: ['h:4222'], nkeySeed: `SU${'A'.repeat(56)}` }, 'valid'],
  ['a misspelled option in nats', { kind: 'nats', servers: ['h:4222'], maxAckPendng: 5 }, 'invalid'],
  ['credentials in a nats server address', { kind: 'nats', servers: ['u:p@h:4222'] }, 'invalid'],
  ['a nats public key instead of the seed', { kind: 'nats', nkeySeed: `UA${'A'.repeat(54)}` }, 'invalid'],
]

describe('the same document through the constructor, configure() and the etcd document', () => {
  it.each(documents)('%s: same verdict everywhere', async (name, document, validity) => {
    const construct = constructors[document.kind] as (d: never) => Transport
    const direct = await verdict(() => construct(document as never))
    const wired = await verdict(async () => {
      const app = await configure(container.createChildContainer(), {
        transport: document as never, // read at run time in this table: configure() checks it
        transports: factories,
      })
      return app.transport
    })
    const key = `doc-${Math.random().toString(36).slice(2)}`
    await store.put(key, storedForm(document))
    const stored = await verdict(() => readTransportDocument(store, key, { factories }))
    expect(wired).toEqual(direct)
    expect(stored).toEqual(direct)
    expect(direct === 'ok' ? 'valid' : 'invalid').toBe(validity)
    if (name.startsWith('a typo'))
      expect(direct).toEqual(['prefech: is not an option; did you mean "prefetch"?'])
  })
})
