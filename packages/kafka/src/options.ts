/**
 * `KafkaTransportOptions`: everything a production user configures on the Kafka transport, and the
 * defaults applied to it. This module only describes and normalises options; it talks to no broker.
 */

import type { ConnectionOptions } from 'node:tls'
import { ConfigError } from '@switchyard/core/spi'
import type { ISocketFactory, RetryOptions, SASLOptions } from 'kafkajs'

/** Compression of produced record batches. `gzip` is built into kafkajs; others need a codec. */
export type KafkaCompression = 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd'

/** kafkajs log levels; the transport is silent (`nothing`) unless asked. */
export type KafkaLogLevel = 'nothing' | 'error' | 'warn' | 'info' | 'debug'

/** Options of {@link KafkaTransport}. Only `brokers` is required. */
export interface KafkaTransportOptions {
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
  /** Consumer session timeout in ms (default 30,000). */
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
  /** How often settled offsets are committed, in ms (default 250). Close and unsubscribe commit at once. */
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

const positive = (issues: string[], name: string, value: number | undefined, fallback: number): number => {
  if (value === undefined) return fallback
  if (!Number.isFinite(value) || value <= 0) issues.push(`${name} must be a positive number, got ${value}`)
  return value
}

/** Applies defaults and checks values; throws `ConfigError` listing every problem. */
export function resolveKafkaOptions(options: KafkaTransportOptions): ResolvedKafkaOptions {
  const issues: string[] = []
  if (!Array.isArray(options?.brokers) || options.brokers.length === 0) {
    issues.push('brokers must be a non-empty array of "host:port" strings')
  } else {
    for (const b of options.brokers) {
      if (typeof b !== 'string' || !/^[^:\s]+:\d+$/.test(b))
        issues.push(`broker ${JSON.stringify(b)} is not "host:port"`)
    }
  }
  const sessionTimeoutMs = positive(issues, 'sessionTimeoutMs', options.sessionTimeoutMs, 30_000)
  const heartbeatIntervalMs = positive(issues, 'heartbeatIntervalMs', options.heartbeatIntervalMs, 1_000)
  if (heartbeatIntervalMs >= sessionTimeoutMs)
    issues.push('heartbeatIntervalMs must be lower than sessionTimeoutMs')
  const partitions = positive(issues, 'partitions', options.partitions, 3)
  const replicationFactor = positive(issues, 'replicationFactor', options.replicationFactor, 1)
  if (!Number.isInteger(partitions) || !Number.isInteger(replicationFactor)) {
    issues.push('partitions and replicationFactor must be integers')
  }
  const compression = options.compression ?? 'none'
  if (!['none', 'gzip', 'snappy', 'lz4', 'zstd'].includes(compression)) {
    issues.push(`compression must be none, gzip, snappy, lz4 or zstd, got ${String(compression)}`)
  } else if (compression !== 'none' && compression !== 'gzip' && !options.compressionCodecs?.[compression]) {
    issues.push(`compression ${compression} needs a codec in compressionCodecs.${compression}`)
  }
  const logLevel = options.logLevel ?? 'nothing'
  if (!['nothing', 'error', 'warn', 'info', 'debug'].includes(logLevel)) {
    issues.push(`logLevel must be nothing, error, warn, info or debug, got ${String(logLevel)}`)
  }
  const resolved: ResolvedKafkaOptions = {
    brokers: [...(options?.brokers ?? [])],
    clientId: options.clientId ?? 'switchyard',
    ssl: options.ssl,
    sasl: options.sasl,
    connectionTimeoutMs: positive(issues, 'connectionTimeoutMs', options.connectionTimeoutMs, 3_000),
    requestTimeoutMs: positive(issues, 'requestTimeoutMs', options.requestTimeoutMs, 30_000),
    retry: { retries: 10, initialRetryTime: 300, maxRetryTime: 10_000, ...options.retry },
    sessionTimeoutMs,
    heartbeatIntervalMs,
    rebalanceTimeoutMs: positive(issues, 'rebalanceTimeoutMs', options.rebalanceTimeoutMs, 60_000),
    maxWaitTimeMs: positive(issues, 'maxWaitTimeMs', options.maxWaitTimeMs, 200),
    maxBytesPerPartition: positive(issues, 'maxBytesPerPartition', options.maxBytesPerPartition, 1_048_576),
    fromBeginning: options.fromBeginning ?? false,
    partitions,
    replicationFactor,
    createTopics: options.createTopics ?? true,
    compression,
    commitIntervalMs: positive(issues, 'commitIntervalMs', options.commitIntervalMs, 250),
    healthCheckIntervalMs: positive(issues, 'healthCheckIntervalMs', options.healthCheckIntervalMs, 1_000),
    logLevel,
    logger: options.logger,
    socketFactory: options.socketFactory,
  }
  if (issues.length > 0) throw new ConfigError('Kafka transport options', issues)
  return resolved
}
