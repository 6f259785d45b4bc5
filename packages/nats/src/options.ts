/**
 * `NatsTransportOptions`: what a user can tune on the NATS JetStream transport, and
 * `natsOptionsSchema`, the one description of them (defaults, limits, unknown fields refused).
 *
 * The constructor, `@switchyard/di` and the etcd transport document all validate with the schema,
 * so `{ kind: 'nats', servers: [...] }` means the same everywhere. This module opens no
 * connection. Credentials (`token`, `password`) are never put into errors, logs or health reports.
 */
import type { ConnectionOptions as TlsConnectionOptions } from 'node:tls'
import type { StandardSchemaV1 } from '@standard-schema/spec'
import { refuseUnknownOptions, validateOptions } from '@switchyard/core/spi'
import { z } from 'zod'

/** Options of {@link NatsTransport}. Everything is optional: the default connects to `127.0.0.1:4222`. */
export interface NatsTransportOptions {
  /** Accepted so that a transport document can be passed unchanged; must be `'nats'`. */
  readonly kind?: 'nats'
  /** Server addresses, `host:port` or `nats://host:port` (default `['127.0.0.1:4222']`). */
  readonly servers?: readonly string[]
  /** User name (with `password`). */
  readonly user?: string
  /** Password (with `user`). */
  readonly password?: string
  /** Authentication token. */
  readonly token?: string
  /**
   * Seed of an nkey user (`SU…`, as `nsc` or `nk -gen user` print it): the client signs the
   * server's challenge with it, and only the public key is configured on the server. A secret.
   */
  readonly nkeySeed?: string
  /**
   * TLS: `true` (the system's CAs), or Node `tls.connect` options for a private CA (`ca`), a client
   * certificate (`cert`, `key`) or `servername`. With TLS set, a server without TLS is refused
   * (`TlsError`); without it, a server that requires TLS is too. `key` and `passphrase` are secrets
   * in documents.
   */
  readonly tls?: boolean | TlsConnectionOptions
  /** Client name shown in the server's connection list (default `switchyard`). */
  readonly name?: string
  /** How long one connection attempt may take, in ms (default 4,000: within the core's 5 s report). */
  readonly connectTimeoutMs?: number
  /**
   * Name of the JetStream stream and first token of every subject (default `switchyard`): topic
   * `orders.created` is subject `<prefix>.orders.created` in stream `<prefix>`, which captures
   * `<prefix>.>`. Transports with different prefixes do not see each other's messages.
   */
  readonly prefix?: string
  /** Where the stream keeps messages (default `file`; `memory` loses them on a server restart). */
  readonly storage?: 'file' | 'memory'
  /** Replicas of a stream this transport creates (default 1; up to 5 on a cluster). */
  readonly replicas?: number
  /** Longest time the stream keeps a message, in ms (default 7 days; 0: no limit). */
  readonly maxAgeMs?: number
  /** Most bytes the stream keeps; the oldest go first (default -1: no limit). */
  readonly maxBytes?: number
  /**
   * `max_ack_pending` of a group's durable consumer (default 10,000): most unsettled messages of a
   * group across all its subscribers. Each subscription is bounded further by its `inFlight`.
   */
  readonly maxAckPending?: number
  /** How long the server waits for a settle before redelivering, in ms (default 30,000). */
  readonly ackWaitMs?: number
  /** `inFlight` of a subscription that does not set it (default 64). */
  readonly prefetch?: number
  /** Backoff between reconnection attempts, run by the core. */
  readonly reconnect?: {
    /** Default 100. */
    readonly initialDelayMs?: number
    /** Default 5,000. */
    readonly maxDelayMs?: number
    /** Default 2. */
    readonly factor?: number
  }
  /** Largest payload plus headers accepted, in bytes (default 1,040,384: the server's 1 MiB `max_payload` less 8 KiB for the subject and Switchyard's headers). */
  readonly maxMessageBytes?: number
}

/** Options with defaults applied. */
export interface ResolvedNatsOptions {
  readonly servers: readonly string[]
  readonly user: string | undefined
  readonly password: string | undefined
  readonly token: string | undefined
  readonly nkeySeed: string | undefined
  /** TLS options when TLS is on, else `undefined`. */
  readonly tls: TlsConnectionOptions | undefined
  readonly name: string
  readonly connectTimeoutMs: number
  readonly prefix: string
  readonly storage: 'file' | 'memory'
  readonly replicas: number
  readonly maxAgeMs: number
  readonly maxBytes: number
  readonly maxAckPending: number
  readonly ackWaitMs: number
  readonly prefetch: number
  readonly reconnect: {
    readonly initialDelayMs: number
    readonly maxDelayMs: number
    readonly factor: number
  }
  readonly maxMessageBytes: number
  /** The servers, for errors and health (credentials are never part of them). */
  readonly endpoint: string
}

const kind = 'nats'
const issue = (message: string) => ({ error: message })
/** A strict object: unknown fields are refused, each with the closest known name. */
const strict = <S extends z.ZodRawShape>(shape: S) =>
  z.looseObject(shape).superRefine(refuseUnknownOptions(Object.keys(shape)), { when: () => true })
const int = (min: number, max = Number.MAX_SAFE_INTEGER) => {
  const message = issue(`must be an integer from ${min} to ${max}`)
  return z.number(message).int(message).min(min, message).max(max, message)
}
const ms = (min: number) =>
  z.number(issue(`must be a number of milliseconds >= ${min}`)).min(min, issue(`must be >= ${min}`))
const server = z
  .string(issue('must be a string'))
  .regex(
    /^(nats:\/\/|tls:\/\/)?[^\s/@]+(:\d{1,5})?$/,
    issue('must be host:port or nats://host:port, without credentials'),
  )

const shape = {
  kind: z.literal(kind, issue(`must be '${kind}' (or left out)`)).optional(),
  servers: z
    .array(server, issue('must be a list of host:port'))
    .min(1, issue('must name a server'))
    .default(['127.0.0.1:4222']),
  user: z.string(issue('must be a string')).optional(),
  password: z.string(issue('must be a string')).optional(),
  token: z.string(issue('must be a string')).optional(),
  nkeySeed: z
    .string(issue('must be a string'))
    .regex(/^SU[A-Z2-7]{56}$/, issue('must be a user nkey seed: SU followed by 56 base32 characters'))
    .optional(),
  tls: z
    .union(
      [
        z.boolean(),
        z.custom<TlsConnectionOptions>((v) => typeof v === 'object' && v !== null && !Array.isArray(v)),
      ],
      issue('must be true, false or TLS options (ca, cert, key, servername …)'),
    )
    .optional(),
  name: z.string(issue('must be a string')).default('switchyard'),
  connectTimeoutMs: ms(1).default(4_000),
  prefix: z
    .string()
    .regex(
      /^[A-Za-z0-9_-]{1,32}$/,
      issue('must be 1-32 characters from [A-Za-z0-9_-] (a stream name and subject token)'),
    )
    .default('switchyard'),
  storage: z.enum(['file', 'memory'], issue('must be file or memory')).default('file'),
  replicas: int(1, 5).default(1),
  maxAgeMs: ms(0).default(7 * 24 * 3_600_000),
  maxBytes: int(-1).default(-1),
  maxAckPending: int(1, 1_000_000).default(10_000),
  ackWaitMs: ms(1_000).default(30_000),
  prefetch: int(1, 65_535).default(64),
  reconnect: strict({
    initialDelayMs: ms(0).default(100),
    maxDelayMs: ms(1).default(5_000),
    factor: z.number(issue('must be a number >= 1')).min(1, issue('must be >= 1')).default(2),
  }).prefault({}),
  maxMessageBytes: int(1, 64 * 1_048_576).default(1_040_384),
}

const schema = strict(shape)

/** Schema of {@link NatsTransportOptions} (a Standard Schema; zod inside), with defaults applied in its output. */
export const natsOptionsSchema = schema as unknown as StandardSchemaV1<
  NatsTransportOptions,
  z.output<typeof schema>
>

/** Validates options and applies defaults; throws `ConfigError` naming every invalid or unknown field. */
export function resolveOptions(options: NatsTransportOptions = {}): ResolvedNatsOptions {
  const o = validateOptions(schema, options, 'NATS transport options', { transport: kind })
  return {
    servers: o.servers,
    user: o.user,
    password: o.password,
    token: o.token,
    nkeySeed: o.nkeySeed,
    tls: o.tls === undefined || o.tls === false ? undefined : o.tls === true ? {} : o.tls,
    name: o.name,
    connectTimeoutMs: o.connectTimeoutMs,
    prefix: o.prefix,
    storage: o.storage,
    replicas: o.replicas,
    maxAgeMs: o.maxAgeMs,
    maxBytes: o.maxBytes,
    maxAckPending: o.maxAckPending,
    ackWaitMs: o.ackWaitMs,
    prefetch: o.prefetch,
    reconnect: o.reconnect,
    maxMessageBytes: o.maxMessageBytes,
    endpoint: o.servers.map((s) => (s.includes('://') ? s : `nats://${s}`)).join(','),
  }
}
