/**
 * `RabbitMqTransportOptions`: what a user can tune, and `resolveOptions`, which validates them and
 * applies the documented defaults once, at construction.
 *
 * This module only describes and checks configuration; it opens no connection. Connection facts
 * come from `url` or from `host`/`port`/`vhost`/`username`/`password` (explicit fields win over
 * the URL). Credentials are never put into errors, logs or health reports.
 */
import type { ConnectionOptions as TlsConnectionOptions } from 'node:tls'
import { ConfigError } from '@switchyard/core/spi'

/**
 * Arguments of a durable group queue. Set them for every group in `queueDefaults`, or per group
 * in `groups`. RabbitMQ fixes them when the queue is first declared: changing them later makes
 * the declaration fail with `ConfigError` until the queue is deleted.
 */
export interface RabbitMqQueueOptions {
  /** Declare a replicated quorum queue instead of a classic one (no priority on RabbitMQ 3.x). */
  readonly quorum?: boolean
  /** `x-max-priority` (1-255; Switchyard uses 0-9): messages with a higher priority are delivered first. */
  readonly maxPriority?: number
  /** `x-single-active-consumer`: one consumer at a time gets the queue, so order is kept. `ordered` subscriptions set it. */
  readonly singleActiveConsumer?: boolean
  /** `x-message-ttl` in ms: messages older than this are discarded by the broker. */
  readonly messageTtlMs?: number
  /** `x-max-length`: most messages the queue holds. */
  readonly maxLength?: number
  /** `x-overflow` when `maxLength` is reached (default `drop-head`, RabbitMQ's own default). */
  readonly overflow?: 'drop-head' | 'reject-publish' | 'reject-publish-dlx'
}

/** Reconnection backoff: `initialDelayMs × factor^n`, capped at `maxDelayMs`, with ±20% jitter. */
export interface RabbitMqReconnectOptions {
  /** Default 100. */
  readonly initialDelayMs?: number
  /** Default 5,000. */
  readonly maxDelayMs?: number
  /** Default 2. */
  readonly factor?: number
}

/**
 * Options of {@link RabbitMqTransport}. Everything is optional: the default connects to
 * `amqp://guest:guest@127.0.0.1:5672/`.
 */
export interface RabbitMqTransportOptions {
  /** `amqp://user:password@host:port/vhost` or `amqps://…`. Explicit fields below override its parts. */
  readonly url?: string
  /** Default `127.0.0.1` (or the URL's host). */
  readonly host?: string
  /** Default 5672, or 5671 with TLS (or the URL's port). */
  readonly port?: number
  /** Default `/` (or the URL's path). */
  readonly vhost?: string
  /** Default `guest` (or the URL's user). */
  readonly username?: string
  /** Default `guest` (or the URL's password). */
  readonly password?: string
  /** `true` or Node TLS options (CA, client certificate, …) to connect with `amqps`; passed through to `tls.connect`. */
  readonly tls?: boolean | TlsConnectionOptions
  /** Heartbeat in seconds (default 30; 0 disables). Detects a dead broker or network path. */
  readonly heartbeatSeconds?: number
  /** Shown in the RabbitMQ management UI (default `switchyard`). */
  readonly connectionName?: string
  /** How long one connection attempt may take, in ms (default 10,000). */
  readonly connectTimeoutMs?: number
  /** Prefetch of a subscription that does not set `inFlight` (default 64). */
  readonly prefetch?: number
  /**
   * Naming prefix of every exchange and queue this transport declares (default `switchyard`).
   * Transports with different prefixes on one vhost do not see each other's messages.
   */
  readonly prefix?: string
  /** Backoff between reconnection attempts. */
  readonly reconnect?: RabbitMqReconnectOptions
  /**
   * How long `publish` waits for the connection to come back (and re-sends unconfirmed messages)
   * before it rejects with `BrokerUnavailableError`, in ms (default 30,000).
   */
  readonly publishWaitMs?: number
  /** Most messages that may wait for the connection at once; more reject at once (default 100,000). */
  readonly publishBufferMessages?: number
  /**
   * Publish with `mandatory`: a message no queue is bound for rejects with `PublishError` instead
   * of being dropped by the broker (default false: like any RabbitMQ topic exchange, a topic
   * without subscribed or provisioned groups drops its messages).
   */
  readonly mandatory?: boolean
  /** Queue arguments for every group queue (see `groups` for per-group ones). */
  readonly queueDefaults?: RabbitMqQueueOptions
  /** Queue arguments per group name, merged over `queueDefaults`. */
  readonly groups?: Readonly<Record<string, RabbitMqQueueOptions>>
  /**
   * When a group subscribes to (or provisions) a plain topic, also provision `<topic>.dlq` for
   * this group name, so dead letters the `Bus` publishes there are kept until someone consumes
   * them with that group (default `dlq`; `false` turns it off).
   */
  readonly deadLetterGroup?: string | false
  /** Largest payload plus headers accepted, in bytes (default 134,217,728: RabbitMQ's default `max_message_size`). */
  readonly maxMessageBytes?: number
}

/** Options with defaults applied. */
export interface ResolvedOptions {
  readonly protocol: 'amqp' | 'amqps'
  readonly host: string
  readonly port: number
  readonly vhost: string
  readonly username: string
  readonly password: string
  readonly tls: TlsConnectionOptions | undefined
  readonly heartbeatSeconds: number
  readonly connectionName: string
  readonly connectTimeoutMs: number
  readonly prefetch: number
  readonly prefix: string
  readonly reconnect: Required<RabbitMqReconnectOptions>
  readonly publishWaitMs: number
  readonly publishBufferMessages: number
  readonly mandatory: boolean
  readonly queueDefaults: RabbitMqQueueOptions
  readonly groups: Readonly<Record<string, RabbitMqQueueOptions>>
  readonly deadLetterGroup: string | undefined
  readonly maxMessageBytes: number
  /** `amqp://host:port/vhost`, without credentials, for errors and health. */
  readonly endpoint: string
}

/** RabbitMQ's default `max_message_size` since 3.8 (128 MiB). */
export const defaultMaxMessageBytes = 134_217_728

const namePattern = /^[A-Za-z0-9._-]{1,40}$/

/** Validates options and applies defaults; throws `ConfigError` naming every problem. */
export function resolveOptions(options: RabbitMqTransportOptions = {}): ResolvedOptions {
  const issues: string[] = []
  let fromUrl: Partial<Record<'protocol' | 'host' | 'port' | 'vhost' | 'username' | 'password', string>> = {}
  if (options.url !== undefined) {
    try {
      const url = new URL(options.url)
      const protocol = url.protocol.replace(/:$/, '')
      if (protocol !== 'amqp' && protocol !== 'amqps') issues.push('url must start with amqp:// or amqps://')
      fromUrl = { protocol }
      if (url.hostname) fromUrl.host = url.hostname.replace(/^\[|\]$/g, '')
      if (url.port) fromUrl.port = url.port
      if (url.pathname.length > 1) fromUrl.vhost = decodeURIComponent(url.pathname.slice(1))
      if (url.username) fromUrl.username = decodeURIComponent(url.username)
      if (url.password) fromUrl.password = decodeURIComponent(url.password)
    } catch {
      issues.push('url is not a valid URL (expected amqp://user:password@host:port/vhost)')
    }
  }
  const tlsWanted = options.tls !== undefined && options.tls !== false
  const protocol = tlsWanted || fromUrl.protocol === 'amqps' ? 'amqps' : 'amqp'
  const port =
    options.port ?? (fromUrl.port === undefined ? (protocol === 'amqps' ? 5671 : 5672) : Number(fromUrl.port))
  const positive = (field: string, value: number | undefined, fallback: number, min = 1): number => {
    if (value === undefined) return fallback
    if (!Number.isFinite(value) || value < min)
      issues.push(`${field} must be a number >= ${min}, got ${String(value)}`)
    return value
  }
  const integer = (field: string, value: number | undefined, fallback: number, min = 1): number => {
    const result = positive(field, value, fallback, min)
    if (!Number.isInteger(result)) issues.push(`${field} must be an integer, got ${String(result)}`)
    return result
  }
  integer('port', port, port)
  const prefix = options.prefix ?? 'switchyard'
  if (!namePattern.test(prefix)) issues.push('prefix must be 1-40 characters from [A-Za-z0-9._-]')
  const deadLetterGroup = options.deadLetterGroup === false ? undefined : (options.deadLetterGroup ?? 'dlq')
  if (deadLetterGroup !== undefined && !/^[A-Za-z0-9._-]{1,200}$/.test(deadLetterGroup)) {
    issues.push('deadLetterGroup must be a valid group name or false')
  }
  const queueIssues = (where: string, q: RabbitMqQueueOptions): void => {
    if (
      q.maxPriority !== undefined &&
      !(Number.isInteger(q.maxPriority) && q.maxPriority >= 1 && q.maxPriority <= 255)
    )
      issues.push(`${where}.maxPriority must be an integer from 1 to 255`)
    if (q.quorum && q.maxPriority !== undefined)
      issues.push(`${where}: quorum queues do not support maxPriority on RabbitMQ 3.x`)
    if (q.messageTtlMs !== undefined && !(Number.isInteger(q.messageTtlMs) && q.messageTtlMs >= 0))
      issues.push(`${where}.messageTtlMs must be an integer >= 0`)
    if (q.maxLength !== undefined && !(Number.isInteger(q.maxLength) && q.maxLength >= 0))
      issues.push(`${where}.maxLength must be an integer >= 0`)
  }
  queueIssues('queueDefaults', options.queueDefaults ?? {})
  for (const [group, q] of Object.entries(options.groups ?? {})) queueIssues(`groups.${group}`, q)
  const reconnect = {
    initialDelayMs: positive('reconnect.initialDelayMs', options.reconnect?.initialDelayMs, 100, 0),
    maxDelayMs: positive('reconnect.maxDelayMs', options.reconnect?.maxDelayMs, 5_000),
    factor: positive('reconnect.factor', options.reconnect?.factor, 2),
  }
  const resolved: ResolvedOptions = {
    protocol,
    host: options.host ?? fromUrl.host ?? '127.0.0.1',
    port,
    vhost: options.vhost ?? fromUrl.vhost ?? '/',
    username: options.username ?? fromUrl.username ?? 'guest',
    password: options.password ?? fromUrl.password ?? 'guest',
    tls: tlsWanted ? (options.tls === true ? {} : (options.tls as TlsConnectionOptions)) : undefined,
    heartbeatSeconds: integer('heartbeatSeconds', options.heartbeatSeconds, 30, 0),
    connectionName: options.connectionName ?? 'switchyard',
    connectTimeoutMs: positive('connectTimeoutMs', options.connectTimeoutMs, 10_000),
    prefetch: integer('prefetch', options.prefetch, 64),
    prefix,
    reconnect,
    publishWaitMs: positive('publishWaitMs', options.publishWaitMs, 30_000, 0),
    publishBufferMessages: integer('publishBufferMessages', options.publishBufferMessages, 100_000, 0),
    mandatory: options.mandatory ?? false,
    queueDefaults: options.queueDefaults ?? {},
    groups: options.groups ?? {},
    deadLetterGroup,
    maxMessageBytes: integer('maxMessageBytes', options.maxMessageBytes, defaultMaxMessageBytes),
    endpoint: '',
  }
  if (issues.length > 0) {
    throw new ConfigError('RabbitMQ transport options', issues, { context: { transport: 'rabbitmq' } })
  }
  const vhostPath = resolved.vhost === '/' ? '' : encodeURIComponent(resolved.vhost)
  return { ...resolved, endpoint: `${protocol}://${resolved.host}:${port}/${vhostPath}` }
}

/** Queue arguments of one group: `queueDefaults`, then `groups[group]`, then `ordered`. */
export function queueOptionsFor(
  options: ResolvedOptions,
  group: string | undefined,
  ordered: boolean,
): RabbitMqQueueOptions {
  const own = group === undefined ? {} : (options.groups[group] ?? {})
  const merged: RabbitMqQueueOptions = { ...options.queueDefaults, ...own }
  return ordered ? { ...merged, singleActiveConsumer: true } : merged
}
