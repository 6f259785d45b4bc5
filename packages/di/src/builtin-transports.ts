/**
 * The built-in transport factories: memory, kafka and rabbitmq.
 *
 * For each kind: the schema of its configuration (what a static object, the environment or an
 * etcd document may say), the `SWITCHYARD_*` environment variables it reads, and the adapter class
 * it builds. This is the only module that names adapter classes. Adapters are imported lazily, when
 * a transport of their kind is built, so a memory-only program never loads kafkajs or amqplib. Functions (loggers, socket
 * factories) can be given in a static object only; documents and the environment carry data.
 */

import type { ConfigSecret } from '@switchyard/config'
import type { Transport } from '@switchyard/core'
import type { KafkaTransportOptions } from '@switchyard/kafka'
import type { MemoryTransportOptions } from '@switchyard/memory'
import type { RabbitMqTransportOptions } from '@switchyard/rabbitmq'
import { z } from 'zod'
import { type Environment, type TransportFactory, TransportRegistry } from './transport-registry.js'

const isSecret = (value: unknown): value is ConfigSecret<unknown> =>
  typeof value === 'object' && value !== null && typeof (value as ConfigSecret).reveal === 'function'

/** A string, or a secret holding one (from an etcd document); revealed for the adapter. */
const secretString = z
  .union([z.string(), z.custom<ConfigSecret<unknown>>(isSecret, 'expected a string or a secret')])
  .transform((value, ctx) => {
    const plain = typeof value === 'string' ? value : value.reveal()
    if (typeof plain === 'string') return plain
    ctx.addIssue({ code: 'custom', message: 'the secret must hold a string' })
    return z.NEVER
  })

/** Reveals a secret read from a document (strings pass through). */
const reveal = (value: unknown): unknown => (isSecret(value) ? value.reveal() : value)

const positiveInt = z.number().int().positive()
const positiveMs = z.number().positive()
const fn = z.custom<(...args: never[]) => unknown>((v) => typeof v === 'function', 'expected a function')

/** Parses a decimal environment variable; a non-number stays a string so the schema reports it. */
const num = (value: string | undefined): number | string | undefined =>
  value === undefined || value === '' ? undefined : Number.isNaN(Number(value)) ? value : Number(value)
const bool = (value: string | undefined): boolean | string | undefined =>
  value === undefined || value === ''
    ? undefined
    : value === 'true'
      ? true
      : value === 'false'
        ? false
        : value
const list = (value: string | undefined): string[] | undefined =>
  value === undefined || value === ''
    ? undefined
    : value
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
/** Drops undefined entries so that optional fields stay absent. */
const defined = (raw: Record<string, unknown>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined))

/** `{ kind: 'memory' }`: no broker; one process. */
const memory: TransportFactory<MemoryTransportOptions> = {
  kind: 'memory',
  schema: z.strictObject({
    retention: z.number().int().nonnegative().optional(),
    maxMessageBytes: z.number().positive().optional(),
  }) as unknown as TransportFactory<MemoryTransportOptions>['schema'],
  fromEnv: () => ({}),
  fromDocument: (document) => document,
  create: async (options): Promise<Transport> =>
    new (await import('@switchyard/memory')).MemoryTransport(options),
}

const kafkaSchema = z.strictObject({
  brokers: z.array(z.string().regex(/^[^:\s]+:\d+$/, 'expected "host:port"')).min(1),
  clientId: z.string().min(1).optional(),
  ssl: z.union([z.boolean(), z.looseObject({})]).optional(),
  sasl: z
    .looseObject({
      mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']),
      username: z.string(),
      password: secretString,
    })
    .optional(),
  connectionTimeoutMs: positiveMs.optional(),
  requestTimeoutMs: positiveMs.optional(),
  retry: z.looseObject({}).optional(),
  sessionTimeoutMs: positiveMs.optional(),
  heartbeatIntervalMs: positiveMs.optional(),
  rebalanceTimeoutMs: positiveMs.optional(),
  maxWaitTimeMs: positiveMs.optional(),
  maxBytesPerPartition: positiveInt.optional(),
  fromBeginning: z.boolean().optional(),
  partitions: positiveInt.optional(),
  replicationFactor: positiveInt.optional(),
  createTopics: z.boolean().optional(),
  compression: z.enum(['none', 'gzip', 'snappy', 'lz4', 'zstd']).optional(),
  compressionCodecs: z.record(z.enum(['snappy', 'lz4', 'zstd']), fn).optional(),
  commitIntervalMs: positiveMs.optional(),
  logLevel: z.enum(['nothing', 'error', 'warn', 'info', 'debug']).optional(),
  logger: fn.optional(),
  socketFactory: fn.optional(),
})

/** `{ kind: 'kafka', brokers: ['host:9092'], … }`: see `KafkaTransportOptions`. */
const kafka: TransportFactory<KafkaTransportOptions> = {
  kind: 'kafka',
  schema: kafkaSchema as unknown as TransportFactory<KafkaTransportOptions>['schema'],
  fromEnv: (env: Environment) =>
    defined({
      brokers: list(env.SWITCHYARD_KAFKA_BROKERS) ?? ['127.0.0.1:9092'],
      clientId: env.SWITCHYARD_KAFKA_CLIENT_ID,
      ssl: bool(env.SWITCHYARD_KAFKA_SSL),
      sasl: env.SWITCHYARD_KAFKA_SASL_MECHANISM
        ? {
            mechanism: env.SWITCHYARD_KAFKA_SASL_MECHANISM,
            username: env.SWITCHYARD_KAFKA_SASL_USERNAME,
            password: env.SWITCHYARD_KAFKA_SASL_PASSWORD,
          }
        : undefined,
      partitions: num(env.SWITCHYARD_KAFKA_PARTITIONS),
    }),
  // The stored document says `connectionTimeout` / `requestTimeout` and keeps keys as secrets.
  fromDocument: ({ connectionTimeout, requestTimeout, ssl, ...rest }) =>
    defined({
      ...rest,
      connectionTimeoutMs: connectionTimeout,
      requestTimeoutMs: requestTimeout,
      ssl:
        typeof ssl === 'object' && ssl !== null
          ? defined({ ...ssl, key: reveal((ssl as { key?: unknown }).key) })
          : ssl,
    }),
  create: async (options): Promise<Transport> =>
    new (await import('@switchyard/kafka')).KafkaTransport(options),
}

const rabbitSchema = z.strictObject({
  url: secretString.optional(),
  host: z.string().min(1).optional(),
  port: positiveInt.optional(),
  vhost: z.string().optional(),
  username: z.string().optional(),
  password: secretString.optional(),
  prefetch: positiveInt.optional(),
  tls: z.union([z.boolean(), z.looseObject({})]).optional(),
  heartbeatSeconds: z.number().int().nonnegative().optional(),
  connectionName: z.string().optional(),
  connectTimeoutMs: positiveMs.optional(),
  prefix: z.string().min(1).optional(),
  reconnect: z.looseObject({}).optional(),
  publishWaitMs: positiveMs.optional(),
  publishBufferMessages: positiveInt.optional(),
  mandatory: z.boolean().optional(),
  queueDefaults: z.looseObject({}).optional(),
  groups: z.record(z.string(), z.looseObject({})).optional(),
  deadLetterGroup: z.union([z.string().min(1), z.literal(false)]).optional(),
  maxMessageBytes: z.number().positive().optional(),
})

/** `{ kind: 'rabbitmq', url: 'amqp://…' }` or `{ kind: 'rabbitmq', host, port, vhost, username, password }`. */
const rabbitmq: TransportFactory<RabbitMqTransportOptions> = {
  kind: 'rabbitmq',
  schema: rabbitSchema as unknown as TransportFactory<RabbitMqTransportOptions>['schema'],
  // Either SWITCHYARD_RABBITMQ_URL, or the separate parts (host, port, vhost, user, password).
  fromEnv: (env: Environment) =>
    env.SWITCHYARD_RABBITMQ_URL
      ? defined({ url: env.SWITCHYARD_RABBITMQ_URL, prefetch: num(env.SWITCHYARD_RABBITMQ_PREFETCH) })
      : defined({
          host: env.SWITCHYARD_RABBITMQ_HOST,
          port: num(env.SWITCHYARD_RABBITMQ_PORT),
          vhost: env.SWITCHYARD_RABBITMQ_VHOST,
          username: env.SWITCHYARD_RABBITMQ_USER,
          password: env.SWITCHYARD_RABBITMQ_PASSWORD,
          prefetch: num(env.SWITCHYARD_RABBITMQ_PREFETCH),
        }),
  // The stored document says `heartbeat` (seconds).
  fromDocument: ({ heartbeat, ...rest }) => defined({ ...rest, heartbeatSeconds: heartbeat }),
  create: async (options): Promise<Transport> =>
    new (await import('@switchyard/rabbitmq')).RabbitMqTransport(options),
}

/** The factories of the built-in kinds. */
export const builtinTransports: readonly TransportFactory[] = [
  memory as unknown as TransportFactory,
  kafka as unknown as TransportFactory,
  rabbitmq as unknown as TransportFactory,
]

/** A registry that knows `memory`, `kafka` and `rabbitmq`; add your own with `register`. */
export function defaultTransportRegistry(): TransportRegistry {
  return new TransportRegistry(builtinTransports)
}
