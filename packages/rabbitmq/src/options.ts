/**
 * `RabbitMqTransportOptions`: what a user can tune; `rabbitmqOptionsSchema`, the one description of
 * them (defaults, limits, unknown fields refused); and `resolveOptions`, which validates through
 * the schema once, at construction, and merges the URL with the explicit connection fields.
 *
 * The constructor, `@switchyard/di` and the etcd transport document all use the schema, so
 * `prefech: 5` is refused everywhere with a hint to `prefetch`. This module opens no connection.
 * Connection facts come from `url` or from `host`/`port`/`vhost`/`username`/`password` (explicit
 * fields win over the URL). Credentials are never put into errors, logs or health reports.
 */
import type { ConnectionOptions as TlsConnectionOptions } from 'node:tls'
import type { StandardSchemaV1 } from '@standard-schema/spec'
import { refuseUnknownOptions, validateOptions } from '@switchyard/core/spi'
import { z } from 'zod'

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

/** Reconnection backoff, run by the core: `initialDelayMs × 2^n`, capped at `maxDelayMs`. */
export interface RabbitMqReconnectOptions {
  /** Default 100. */
  readonly initialDelayMs?: number
  /** Default 5,000. */
  readonly maxDelayMs?: number
  /** Growth of the wait per failed attempt (default 2); the core's reconnect backoff uses it. */
  readonly factor?: number
}

/**
 * Options of {@link RabbitMqTransport}. Everything is optional: the default connects to
 * `amqp://guest:guest@127.0.0.1:5672/`.
 */
export interface RabbitMqTransportOptions {
  /** Accepted so that a transport document can be passed unchanged; must be `'rabbitmq'`. */
  readonly kind?: 'rabbitmq'
  /** `amqp://user:password@host:port/vhost` or `amqps://…`. Explicit fields below override its parts. */
  readonly url?: string
  /** Default `127.0.0.1` (or the URL's host). */
  readonly host?: string
  /** Default 5672, or 5671 with TLS (or the URL's port). */
  readonly port?: number
  /**
   * Other nodes of the same cluster as `host:port` (e.g. `['10.0.0.2:5672', '10.0.0.3:5672']`),
   * tried in turn after `host`/`port` when a connection attempt fails or a connection is lost, so a
   * dead node costs one refused attempt, not a reconnect backoff. Same vhost, user and TLS on all.
   */
  readonly addresses?: readonly string[]
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
  /**
   * How long one connection attempt may take, in ms (default 10,000). `connect()` and publishes
   * waiting for the connection reject after `min(connectTimeoutMs, 4,000)` (the core's connect timeout).
   */
  readonly connectTimeoutMs?: number
  /**
   * `inFlight` of a subscription that does not set it (default 64). The channel's `basic.qos` is
   * the core's window: `inFlight` plus as many to hold back behind busy keys.
   */
  readonly prefetch?: number
  /**
   * Naming prefix of every exchange and queue this transport declares (default `switchyard`).
   * Transports with different prefixes on one vhost do not see each other's messages.
   */
  readonly prefix?: string
  /** Backoff between reconnection attempts. */
  readonly reconnect?: RabbitMqReconnectOptions
  /**
   * How long a publish cut off by a lost connection waits for it to come back (and re-sends its
   * unconfirmed messages) before it rejects with `BrokerUnavailableError`, in ms (default 30,000).
   * A publish made while disconnected waits the core's connect timeout instead.
   */
  readonly publishWaitMs?: number
  /**
   * How long a channel may stay open without confirming (or draining) anything while publishes
   * wait on it, in ms (default 10,000, at least 1,000). Then it is taken for stuck — seen on a
   * quorum queue whose leader node was cut off the network: the channel neither confirmed nor
   * closed — and closed, and its unconfirmed messages are re-sent on a fresh channel (they may be
   * stored twice, never lost) within `publishWaitMs`; a batch still unconfirmed at `publishWaitMs`
   * gives up its channel the same way, however its confirms trickle. A connection on which no
   * publish channel opens within this time is dropped and made again (through the next node
   * first). A lower value recovers sooner and risks duplicates from a broker that is only slow.
   */
  readonly confirmTimeoutMs?: number
  /** Most messages that may wait to be re-sent at once; more reject at once (default 100,000). */
  readonly publishBufferMessages?: number
  /**
   * Confirm windows in flight at once (default 1, 1–64): how many of the core's publish batches
   * are written to the confirm channel before the first one is confirmed. 1 waits for each
   * window's confirms before writing the next; more can raise publish-only throughput a little
   * but slowed publish → consume → ack on one connection in the benchmark (see the README).
   * Order holds across windows (one channel); a nack or a lost channel fails or re-sends exactly
   * the messages of the windows it hit.
   */
  readonly confirmWindows?: number
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
  /** `host`/`port` first, then `addresses`: the nodes tried in turn. */
  readonly nodes: readonly { readonly host: string; readonly port: number }[]
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
  readonly confirmTimeoutMs: number
  readonly publishBufferMessages: number
  readonly confirmWindows: number
  readonly mandatory: boolean
  readonly queueDefaults: RabbitMqQueueOptions
  readonly groups: Readonly<Record<string, RabbitMqQueueOptions>>
  readonly deadLetterGroup: string | undefined
  readonly maxMessageBytes: number
  /** `amqp://host:port/vhost`, without credentials, for errors and health. */
  readonly endpoint: string
}

/** Default {@link RabbitMqTransportOptions.confirmWindows}. */
export const defaultConfirmWindows = 1
/** RabbitMQ's default `max_message_size` since 3.8 (128 MiB). */
export const defaultMaxMessageBytes = 134_217_728
/** RabbitMQ's largest configurable `max_message_size` (512 MiB). */
const largestMessageBytes = 536_870_912

const kind = 'rabbitmq'
const issue = (message: string) => ({ error: message })
/** A strict object: unknown fields are refused, each with the closest known name. */
const strict = <S extends z.ZodRawShape>(shape: S) =>
  z.looseObject(shape).superRefine(refuseUnknownOptions(Object.keys(shape)), { when: () => true })
const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .number(issue(`must be an integer from ${min} to ${max}`))
    .int(issue(`must be an integer from ${min} to ${max}`))
    .min(min, issue(`must be an integer from ${min} to ${max}`))
    .max(max, issue(`must be an integer from ${min} to ${max}`))
const ms = (min: number) =>
  z.number(issue(`must be a number of milliseconds >= ${min}`)).min(min, issue(`must be >= ${min}`))
const name = (what: string, max: number) =>
  z
    .string()
    .regex(
      new RegExp(`^[A-Za-z0-9._-]{1,${max}}$`),
      issue(`must be ${what}: 1-${max} characters from [A-Za-z0-9._-]`),
    )

const queueShape = {
  quorum: z.boolean(issue('must be true or false')).optional(),
  maxPriority: int(1, 255).optional(),
  singleActiveConsumer: z.boolean(issue('must be true or false')).optional(),
  messageTtlMs: int(0).optional(),
  maxLength: int(0).optional(),
  overflow: z
    .enum(
      ['drop-head', 'reject-publish', 'reject-publish-dlx'],
      issue('must be drop-head, reject-publish or reject-publish-dlx'),
    )
    .optional(),
}
const queue = strict(queueShape).superRefine(
  (q, context) => {
    if (q.quorum === true && q.maxPriority !== undefined) {
      context.addIssue({
        code: 'custom',
        path: ['maxPriority'],
        message: 'quorum queues do not support maxPriority on RabbitMQ 3.x; drop one of the two',
      })
    }
  },
  { when: () => true },
)

const url = z.string(issue('must be a string')).superRefine((value, context) => {
  let protocol: string
  try {
    protocol = new URL(value).protocol
  } catch {
    context.addIssue({
      code: 'custom',
      message: 'is not a valid URL (expected amqp://user:password@host:port/vhost)',
    })
    return
  }
  if (protocol !== 'amqp:' && protocol !== 'amqps:') {
    context.addIssue({ code: 'custom', message: 'must start with amqp:// or amqps://' })
  }
})

const shape = {
  kind: z.literal(kind, issue(`must be '${kind}' (or left out)`)).optional(),
  url: url.optional(),
  host: z.string().min(1, issue('must not be empty')).optional(),
  port: int(1, 65_535).optional(),
  addresses: z
    .array(
      z
        .string(issue('must be host:port strings'))
        .regex(
          /^(\[[0-9a-fA-F:.]+\]|[^\s:/]+):\d{1,5}$/,
          issue("must be 'host:port' strings, e.g. '10.0.0.2:5672'"),
        ),
      issue("must be an array of 'host:port' strings"),
    )
    .optional(),
  vhost: z.string(issue('must be a string')).optional(),
  username: z.string(issue('must be a string')).optional(),
  password: z.string(issue('must be a string')).optional(),
  tls: z
    .union(
      [
        z.boolean(),
        z.custom<TlsConnectionOptions>((v) => typeof v === 'object' && v !== null && !Array.isArray(v)),
      ],
      issue('must be true, false or TLS options'),
    )
    .optional(),
  heartbeatSeconds: int(0, 65_535).default(30),
  connectionName: z.string(issue('must be a string')).default('switchyard'),
  connectTimeoutMs: ms(1).default(10_000),
  prefetch: int(1, 65_535).default(64),
  prefix: name('a name prefix', 40).default('switchyard'),
  reconnect: strict({
    initialDelayMs: ms(0).default(100),
    maxDelayMs: ms(1).default(5_000),
    factor: z.number(issue('must be a number >= 1')).min(1, issue('must be >= 1')).default(2),
  }).prefault({}),
  publishWaitMs: ms(0).default(30_000),
  confirmTimeoutMs: ms(1_000).default(10_000),
  publishBufferMessages: int(0).default(100_000),
  confirmWindows: int(1, 64).default(defaultConfirmWindows),
  mandatory: z.boolean(issue('must be true or false')).default(false),
  queueDefaults: queue.default({}),
  groups: z.record(z.string(), queue).default({}),
  deadLetterGroup: z
    .union([name('a group name', 200), z.literal(false)], issue('must be a group name or false'))
    .default('dlq'),
  maxMessageBytes: int(1, largestMessageBytes).default(defaultMaxMessageBytes),
}

const schema = strict(shape)

/**
 * Schema of {@link RabbitMqTransportOptions} (a Standard Schema; zod inside). Its output has the
 * defaults applied, except the connection fields, whose defaults depend on `url` (see
 * `resolveOptions`).
 */
export const rabbitmqOptionsSchema = schema as unknown as StandardSchemaV1<
  RabbitMqTransportOptions,
  z.output<typeof schema>
>

/** Validates options and applies defaults; throws `ConfigError` naming every invalid or unknown field. */
export function resolveOptions(options: RabbitMqTransportOptions = {}): ResolvedOptions {
  const o = validateOptions(schema, options, 'RabbitMQ transport options', { transport: kind })
  let fromUrl: Partial<Record<'protocol' | 'host' | 'port' | 'vhost' | 'username' | 'password', string>> = {}
  if (o.url !== undefined) {
    const parsed = new URL(o.url)
    fromUrl = { protocol: parsed.protocol.replace(/:$/, '') }
    if (parsed.hostname) fromUrl.host = parsed.hostname.replace(/^\[|\]$/g, '')
    if (parsed.port) fromUrl.port = parsed.port
    if (parsed.pathname.length > 1) fromUrl.vhost = decodeURIComponent(parsed.pathname.slice(1))
    if (parsed.username) fromUrl.username = decodeURIComponent(parsed.username)
    if (parsed.password) fromUrl.password = decodeURIComponent(parsed.password)
  }
  const tlsWanted = o.tls !== undefined && o.tls !== false
  const protocol = tlsWanted || fromUrl.protocol === 'amqps' ? 'amqps' : 'amqp'
  const port =
    o.port ?? (fromUrl.port === undefined ? (protocol === 'amqps' ? 5671 : 5672) : Number(fromUrl.port))
  const host = o.host ?? fromUrl.host ?? '127.0.0.1'
  const vhost = o.vhost ?? fromUrl.vhost ?? '/'
  const vhostPath = vhost === '/' ? '' : encodeURIComponent(vhost)
  const nodes = [{ host, port }]
  for (const address of o.addresses ?? []) {
    const at = address.lastIndexOf(':')
    nodes.push({ host: address.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(address.slice(at + 1)) })
  }
  return {
    protocol,
    host,
    port,
    nodes,
    vhost,
    username: o.username ?? fromUrl.username ?? 'guest',
    password: o.password ?? fromUrl.password ?? 'guest',
    tls: tlsWanted ? (o.tls === true ? {} : (o.tls as TlsConnectionOptions)) : undefined,
    heartbeatSeconds: o.heartbeatSeconds,
    connectionName: o.connectionName,
    connectTimeoutMs: o.connectTimeoutMs,
    prefetch: o.prefetch,
    prefix: o.prefix,
    reconnect: o.reconnect,
    publishWaitMs: o.publishWaitMs,
    confirmTimeoutMs: o.confirmTimeoutMs,
    publishBufferMessages: o.publishBufferMessages,
    confirmWindows: o.confirmWindows,
    mandatory: o.mandatory,
    queueDefaults: o.queueDefaults as RabbitMqQueueOptions,
    groups: o.groups as Readonly<Record<string, RabbitMqQueueOptions>>,
    deadLetterGroup: o.deadLetterGroup === false ? undefined : o.deadLetterGroup,
    maxMessageBytes: o.maxMessageBytes,
    endpoint: `${protocol}://${host}:${port}/${vhostPath}`,
  }
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
