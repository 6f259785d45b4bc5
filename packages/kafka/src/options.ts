/**
 * `KafkaTransportOptions`: everything a production user configures on the Kafka transport, and
 * `kafkaOptionsSchema`, the one description of them (defaults, limits, unknown fields refused).
 *
 * The constructor (through `resolveKafkaOptions`), `@switchyard/di` and the etcd transport
 * document all validate with the schema, so a document `{ kind: 'kafka', ...options }` means the
 * same everywhere. This module only describes and normalises options; it talks to no broker.
 */

import type { ConnectionOptions } from 'node:tls'
import type { StandardSchemaV1 } from '@standard-schema/spec'
import { refuseUnknownOptions, validateOptions } from '@switchyard/core/spi'
import type { ISocketFactory, RetryOptions, SASLOptions } from 'kafkajs'
import { z } from 'zod'

/** Compression of produced record batches. `gzip` is built into kafkajs; others need a codec. */
export type KafkaCompression = 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd'

/** kafkajs log levels; the transport is silent (`nothing`) unless asked. */
export type KafkaLogLevel = 'nothing' | 'error' | 'warn' | 'info' | 'debug'

/** The Kafka client library behind the transport (see the README's "Choosing the client"). */
export type KafkaClientName = 'kafkajs' | 'platformatic'

/** Kafka consumer group protocol: `classic` (JoinGroup/SyncGroup) or `consumer` (KIP-848). */
export type KafkaGroupProtocol = 'classic' | 'consumer'

/** Options of {@link KafkaTransport}. Only `brokers` is required. */
export interface KafkaTransportOptions {
  /**
   * Client library: `kafkajs` (default) or `platformatic` (`@platformatic/kafka`, an optional peer
   * dependency; needs Node >= 22.22 on the 22 line or >= 24.6 on the 24 line). Both keep the same
   * contract, and the same key lands on the same partition under both.
   */
  readonly client?: KafkaClientName
  /**
   * Consumer group protocol (default `classic`). `consumer` is KIP-848 (Kafka 4+), and needs
   * `client: 'platformatic'`; its session timeout is the broker's `group.consumer.session.timeout.ms`.
   */
  readonly groupProtocol?: KafkaGroupProtocol
  /** Accepted so that a transport document can be passed unchanged; must be `'kafka'`. */
  readonly kind?: 'kafka'
  /** Bootstrap brokers, `host:port`. */
  readonly brokers: readonly string[]
  /** Client id sent to Kafka, shown in broker logs and quotas (default `switchyard`). */
  readonly clientId?: string
  /** TLS: `true` or Node `tls.connect` options, passed to kafkajs unchanged. */
  readonly ssl?: boolean | ConnectionOptions
  /** SASL (`plain`, `scram-sha-256`, `scram-sha-512`, …), passed to kafkajs unchanged. */
  readonly sasl?: SASLOptions
  /** Connection establishment timeout in ms (default 3,000). */
  readonly connectionTimeoutMs?: number
  /** Request timeout in ms (default 30,000). */
  readonly requestTimeoutMs?: number
  /**
   * Retry of kafkajs requests (admin, consumer, producer). Bounded on purpose: a publish during an
   * outage fails with `BrokerUnavailableError` after these retries instead of hanging
   * (default `{ retries: 10, initialRetryTime: 300, maxRetryTime: 10_000 }`, about a minute).
   */
  readonly retry?: Omit<RetryOptions, 'restartOnFailure'>
  /**
   * Consumer session timeout in ms (default 6,000, the broker's default minimum
   * `group.min.session.timeout.ms`). A member that stops heartbeating (a crash, `kill -9`) keeps its
   * partitions this long before the group gives them to another member, so failover takes about
   * this long. The cost: a member whose event loop stalls (a long GC pause, a synchronous handler)
   * for longer is evicted and its partitions move, their unsettled messages redelivered. Raise it
   * for such workloads; Kafka's own default is 45,000.
   */
  readonly sessionTimeoutMs?: number
  /** Consumer heartbeat interval in ms, below a third of the session timeout (default 1,000). */
  readonly heartbeatIntervalMs?: number
  /** How long a consumer rebalance may take in ms (default 60,000). */
  readonly rebalanceTimeoutMs?: number
  /**
   * Longest wait of one fetch (and of the idle loop while all partitions are paused) in ms.
   * Lower means quicker resumption after backpressure, higher means fewer idle requests (default 200).
   */
  readonly maxWaitTimeMs?: number
  /** Most bytes fetched per partition per request (default 1 MiB). Bounds the per-partition buffer. */
  readonly maxBytesPerPartition?: number
  /** Default `fromBeginning` for a group that has never committed (default false). */
  readonly fromBeginning?: boolean
  /** Partitions of topics the transport creates (default 3). Existing topics are left as they are. */
  readonly partitions?: number
  /** Replication factor of topics the transport creates (default 1). */
  readonly replicationFactor?: number
  /** Create missing topics through the admin client (default true); else `UnknownTopicError`. */
  readonly createTopics?: boolean
  /** Compression of produced batches (default `none`). */
  readonly compression?: KafkaCompression
  /**
   * Codecs for `snappy`, `lz4` and `zstd`, as kafkajs expects them (`() => ({ compress, decompress })`).
   * They are registered in kafkajs' global `CompressionCodecs` table when the transport is created.
   */
  readonly compressionCodecs?: Partial<Record<'snappy' | 'lz4' | 'zstd', () => unknown>>
  /**
   * How often settled offsets are committed, in ms (default 250); close, unsubscribe and a rebalance
   * commit at once. After a crash, what was settled since the last commit is delivered again: about
   * the consume rate times this interval (at 100,000 msg/s and 250 ms, up to ~25,000 messages).
   * Lower means fewer redeliveries and more commit requests; see the README for measurements.
   */
  readonly commitIntervalMs?: number
  /** How often the broker is probed for `status$` while connected, in ms (default 1,000). */
  readonly healthCheckIntervalMs?: number
  /** kafkajs log level (default `nothing`). Logs go to `logger` or, without one, to stderr. */
  readonly logLevel?: KafkaLogLevel
  /** Receives kafkajs log lines at or above `logLevel`. */
  readonly logger?: (entry: { level: KafkaLogLevel; namespace: string; message: string }) => void
  /** Custom socket factory, passed to kafkajs (e.g. for proxies). */
  readonly socketFactory?: ISocketFactory
}

/** Options with every default applied. */
export interface ResolvedKafkaOptions {
  readonly client: KafkaClientName
  readonly groupProtocol: KafkaGroupProtocol
  readonly brokers: string[]
  readonly clientId: string
  readonly ssl: boolean | ConnectionOptions | undefined
  readonly sasl: SASLOptions | undefined
  readonly connectionTimeoutMs: number
  readonly requestTimeoutMs: number
  readonly retry: Omit<RetryOptions, 'restartOnFailure'>
  readonly sessionTimeoutMs: number
  readonly heartbeatIntervalMs: number
  readonly rebalanceTimeoutMs: number
  readonly maxWaitTimeMs: number
  readonly maxBytesPerPartition: number
  readonly fromBeginning: boolean
  readonly partitions: number
  readonly replicationFactor: number
  readonly createTopics: boolean
  readonly compression: KafkaCompression
  readonly commitIntervalMs: number
  readonly healthCheckIntervalMs: number
  readonly logLevel: KafkaLogLevel
  readonly logger: KafkaTransportOptions['logger']
  readonly socketFactory: ISocketFactory | undefined
}

const kind = 'kafka'
const issue = (message: string) => ({ error: message })
/** A strict object: unknown fields are refused, each with the closest known name. */
const strict = <S extends z.ZodRawShape>(shape: S) =>
  z.looseObject(shape).superRefine(refuseUnknownOptions(Object.keys(shape)), { when: () => true })
const positiveMs = (fallback: number) =>
  z.number(issue('must be a number of milliseconds > 0')).positive(issue('must be > 0')).default(fallback)
const positiveInt = (fallback: number) =>
  z
    .number(issue('must be an integer > 0'))
    .int(issue('must be an integer > 0'))
    .positive(issue('must be an integer > 0'))
    .default(fallback)
const fn = <F>(what: string) =>
  z.custom<F>((value) => typeof value === 'function', issue(`must be a function (${what})`))
const plainObject = <T>(what: string) =>
  z.custom<T>(
    (value) => typeof value === 'object' && value !== null && !Array.isArray(value),
    issue(`must be ${what}`),
  )

const password = z.string(issue('must be a string')).min(1, issue('must not be empty'))
const sasl = z.discriminatedUnion(
  'mechanism',
  [
    strict({ mechanism: z.literal('plain'), username: z.string(), password }),
    strict({ mechanism: z.literal('scram-sha-256'), username: z.string(), password }),
    strict({ mechanism: z.literal('scram-sha-512'), username: z.string(), password }),
    strict({
      mechanism: z.literal('aws'),
      authorizationIdentity: z.string(),
      accessKeyId: z.string(),
      secretAccessKey: password,
      sessionToken: z.string().optional(),
    }),
    strict({ mechanism: z.literal('oauthbearer'), oauthBearerProvider: fn('returns { value: token }') }),
  ],
  issue('mechanism must be plain, scram-sha-256, scram-sha-512, aws or oauthbearer'),
)

const compressions = ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const
const logLevels = ['nothing', 'error', 'warn', 'info', 'debug'] as const

const clients = ['kafkajs', 'platformatic'] as const
const groupProtocols = ['classic', 'consumer'] as const

const shape = {
  kind: z.literal(kind, issue(`must be '${kind}' (or left out)`)).optional(),
  client: z.enum(clients, issue(`must be one of ${clients.join(', ')}`)).default('kafkajs'),
  groupProtocol: z
    .enum(groupProtocols, issue(`must be one of ${groupProtocols.join(', ')}`))
    .default('classic'),
  brokers: z
    .array(
      z.string().regex(/^[^:\s]+:\d{1,5}$/, issue('must be "host:port"')),
      issue('must be an array of "host:port"'),
    )
    .min(1, issue('must list at least one "host:port"')),
  clientId: z.string().min(1, issue('must not be empty')).default('switchyard'),
  ssl: z
    .union(
      [z.boolean(), plainObject<ConnectionOptions>('TLS options')],
      issue('must be true, false or TLS options'),
    )
    .optional(),
  // Cast: zod's optional fields read `T | undefined`, kafkajs' types are exact.
  sasl: (sasl as unknown as z.ZodType<SASLOptions>).optional(),
  connectionTimeoutMs: positiveMs(3_000),
  requestTimeoutMs: positiveMs(30_000),
  retry: strict({
    retries: z.number().int().nonnegative(issue('must be an integer >= 0')).default(10),
    initialRetryTime: positiveMs(300),
    maxRetryTime: positiveMs(10_000),
    factor: z.number().nonnegative().optional(),
    multiplier: z.number().positive().optional(),
  }).prefault({}) as unknown as z.ZodType<Omit<RetryOptions, 'restartOnFailure'>>,
  sessionTimeoutMs: positiveMs(6_000),
  heartbeatIntervalMs: positiveMs(1_000),
  rebalanceTimeoutMs: positiveMs(60_000),
  maxWaitTimeMs: positiveMs(200),
  maxBytesPerPartition: positiveInt(1_048_576),
  fromBeginning: z.boolean(issue('must be true or false')).default(false),
  partitions: positiveInt(3),
  replicationFactor: positiveInt(1),
  createTopics: z.boolean(issue('must be true or false')).default(true),
  compression: z.enum(compressions, issue(`must be one of ${compressions.join(', ')}`)).default('none'),
  compressionCodecs: strict({
    snappy: fn<() => unknown>('a kafkajs codec').optional(),
    lz4: fn<() => unknown>('a kafkajs codec').optional(),
    zstd: fn<() => unknown>('a kafkajs codec').optional(),
  }).optional(),
  commitIntervalMs: positiveMs(250),
  healthCheckIntervalMs: positiveMs(1_000),
  logLevel: z.enum(logLevels, issue(`must be one of ${logLevels.join(', ')}`)).default('nothing'),
  logger: fn<NonNullable<KafkaTransportOptions['logger']>>(
    'receives { level, namespace, message }',
  ).optional(),
  socketFactory: fn<ISocketFactory>('a kafkajs socket factory').optional(),
}

/** Rules between fields; run even when a field failed, so every problem is listed at once. */
const schema = strict(shape).superRefine(
  (options, context) => {
    const { heartbeatIntervalMs: heartbeat, sessionTimeoutMs: session } = options
    if (typeof heartbeat === 'number' && typeof session === 'number' && heartbeat >= session) {
      context.addIssue({
        code: 'custom',
        path: ['heartbeatIntervalMs'],
        message: `must be lower than sessionTimeoutMs (${session}); a third of it is usual`,
      })
    }
    if (options.groupProtocol === 'consumer' && options.client !== 'platformatic') {
      context.addIssue({
        code: 'custom',
        path: ['groupProtocol'],
        message:
          "'consumer' (KIP-848) needs client 'platformatic' (kafkajs speaks only the classic protocol)",
      })
    }
    const c = options.compression
    if (
      (c === 'snappy' || c === 'lz4' || c === 'zstd') &&
      typeof options.compressionCodecs?.[c] !== 'function'
    ) {
      context.addIssue({
        code: 'custom',
        path: ['compressionCodecs', c],
        message: `compression '${c}' needs a kafkajs ${c} codec here (kafkajs ships only gzip), or use gzip`,
      })
    }
  },
  { when: () => true },
)

// Compile-time check that the schema's output is what the transport reads (optional fields aside).
type Optional = 'ssl' | 'sasl' | 'logger' | 'socketFactory'
const outputMatches: z.output<typeof schema> extends Omit<ResolvedKafkaOptions, Optional> ? true : never =
  true
void outputMatches

/**
 * Schema of {@link KafkaTransportOptions} (a Standard Schema; zod inside). Its output has every
 * default applied. Functions (`logger`, `socketFactory`, `compressionCodecs`,
 * `sasl.oauthBearerProvider`) can only come from code, not from a document.
 */
export const kafkaOptionsSchema = schema as unknown as StandardSchemaV1<
  KafkaTransportOptions,
  ResolvedKafkaOptions & { readonly kind?: 'kafka' }
>

/** Applies defaults and checks values; throws `ConfigError` naming every invalid or unknown field. */
export function resolveKafkaOptions(options: KafkaTransportOptions): ResolvedKafkaOptions {
  const { kind: _kind, ...resolved } = validateOptions(
    kafkaOptionsSchema,
    options,
    'Kafka transport options',
    {
      transport: kind,
    },
  )
  // The optional fields are named so that they are present (as undefined) in the resolved options.
  return {
    ...resolved,
    ssl: resolved.ssl,
    sasl: resolved.sasl,
    logger: resolved.logger,
    socketFactory: resolved.socketFactory,
  }
}
