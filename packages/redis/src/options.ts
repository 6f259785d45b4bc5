/**
 * `RedisTransportOptions`: what a production user configures on the Redis Streams transport, and
 * `redisOptionsSchema`, the one description of them (defaults, limits, unknown fields refused).
 * The constructor, `@switchyard/di` and the etcd transport document all validate with it, so
 * `{ kind: 'redis', url: 'redis://…' }` means the same everywhere. Talks to no server.
 */
import type { ConnectionOptions as TlsConnectionOptions } from 'node:tls'
import type { StandardSchemaV1 } from '@standard-schema/spec'
import { refuseUnknownOptions, validateOptions } from '@switchyard/core/spi'
import { z } from 'zod'

/** How long a stream is kept. One of the two, trimmed on every `XADD` (approximately by default). */
export interface RedisRetention {
  /** Keep about this many newest entries per stream (`MAXLEN`). */
  readonly maxLength?: number
  /** Drop entries older than this many ms (`MINID` from the entry id's time part). */
  readonly maxAgeMs?: number
  /** Trim exactly (`=`) instead of whole macro nodes (`~`, the default: far cheaper). */
  readonly exact?: boolean
}

/** Options of {@link RedisTransport}. All are optional. */
export interface RedisTransportOptions {
  /** Accepted so that a transport document can be passed unchanged; must be `'redis'`. */
  readonly kind?: 'redis'
  /** `redis://[user:password@]host:port[/db]` or `rediss://…` for TLS (default `redis://127.0.0.1:6379`). */
  readonly url?: string
  /** Password (ACL or `requirepass`), instead of putting it in the URL. A secret in documents. */
  readonly password?: string
  /** ACL user name, instead of putting it in the URL. */
  readonly username?: string
  /**
   * TLS: `true`, or Node `tls.connect` options for a private CA (`ca`), a client certificate
   * (`cert`, `key`) or `servername`. Either turns TLS on even with a `redis://` URL; `rediss://`
   * alone means TLS with the system's CAs. `key` and `passphrase` are secrets in documents.
   */
  readonly tls?: boolean | TlsConnectionOptions
  /** Prefix of every stream key: topic `orders` is stream `<prefix>orders` (default `switchyard:`). */
  readonly prefix?: string
  /** One connection attempt may take this long, in ms (default 3,000). */
  readonly connectTimeoutMs?: number
  /**
   * Longest blocking read (`XREADGROUP … BLOCK`), and how often each group consumer looks for
   * entries to take over (`XAUTOCLAIM`), in ms (default 1,000).
   */
  readonly pollMs?: number
  /**
   * An entry delivered to a group consumer and unsettled for this long (ms) is taken over by
   * another consumer of the group, with `attempt` from the delivery counter: the recovery of a
   * crashed consumer. Must exceed your longest handler (default 30,000).
   */
  readonly claimIdleMs?: number
  /** Trimming of every stream this transport writes (default: none, streams grow until trimmed). */
  readonly retention?: RedisRetention
  /** Largest payload plus headers accepted by `publish`, in bytes (default 1 MiB; Redis allows 512 MiB). */
  readonly maxMessageBytes?: number
  /** Reconnection backoff of the core, in ms (default 100 → 5,000, factor 2). */
  readonly reconnect?: {
    readonly initialDelayMs?: number
    readonly maxDelayMs?: number
    readonly factor?: number
  }
}

/** Options with every default applied. */
export interface ResolvedRedisOptions {
  readonly url: string
  readonly password: string | undefined
  readonly username: string | undefined
  /** TLS options when the connection is encrypted (`tls` set or a `rediss://` URL), else `undefined`. */
  readonly tls: TlsConnectionOptions | undefined
  readonly prefix: string
  readonly connectTimeoutMs: number
  readonly pollMs: number
  readonly claimIdleMs: number
  readonly retention: RedisRetention | undefined
  readonly maxMessageBytes: number
  readonly reconnect: {
    readonly initialDelayMs: number
    readonly maxDelayMs: number
    readonly factor: number
  }
}

const kind = 'redis'
const issue = (message: string) => ({ error: message })
const strict = <S extends z.ZodRawShape>(shape: S) =>
  z.looseObject(shape).superRefine(refuseUnknownOptions(Object.keys(shape)), { when: () => true })
const positiveInt = (what: string) =>
  z
    .number(issue(`must be ${what}`))
    .int(issue(`must be ${what}`))
    .positive(issue(`must be ${what}`))

const shape = {
  kind: z.literal(kind, issue(`must be '${kind}' (or left out)`)).optional(),
  url: z
    .string(issue('must be a string'))
    .regex(/^rediss?:\/\/\S+$/, issue('must be "redis://host:port" or "rediss://host:port"'))
    .default('redis://127.0.0.1:6379'),
  password: z.string(issue('must be a string')).min(1, issue('must not be empty')).optional(),
  username: z.string(issue('must be a string')).min(1, issue('must not be empty')).optional(),
  tls: z
    .union(
      [
        z.boolean(),
        z.custom<TlsConnectionOptions>((v) => typeof v === 'object' && v !== null && !Array.isArray(v)),
      ],
      issue('must be true, false or TLS options (ca, cert, key, servername …)'),
    )
    .optional(),
  prefix: z
    .string(issue('must be a string'))
    .regex(/^[^\s*?[\]]*$/, issue('must not hold spaces or glob characters (* ? [ ])'))
    .default('switchyard:'),
  connectTimeoutMs: positiveInt('an integer number of ms > 0').default(3_000),
  pollMs: positiveInt('an integer number of ms > 0').default(1_000),
  claimIdleMs: positiveInt('an integer number of ms > 0').default(30_000),
  retention: strict({
    maxLength: positiveInt('an integer > 0').optional(),
    maxAgeMs: positiveInt('an integer number of ms > 0').optional(),
    exact: z.boolean(issue('must be true or false')).optional(),
  })
    .refine((r) => (r.maxLength === undefined) !== (r.maxAgeMs === undefined), {
      message: 'set exactly one of maxLength and maxAgeMs (XADD trims by one of them)',
    })
    .optional(),
  maxMessageBytes: positiveInt('an integer number of bytes > 0')
    .max(512 * 1024 * 1024, issue('must be at most 512 MiB (Redis bulk string limit)'))
    .default(1024 * 1024),
  reconnect: strict({
    initialDelayMs: positiveInt('an integer number of ms > 0').default(100),
    maxDelayMs: positiveInt('an integer number of ms > 0').default(5_000),
    factor: z.number(issue('must be a number >= 1')).min(1, issue('must be >= 1')).default(2),
  }).prefault({}),
}

const schema = strict(shape).refine((o) => !(o.tls === false && o.url.startsWith('rediss:')), {
  message: 'tls: false contradicts the rediss:// URL; use redis:// for a plaintext connection',
  path: ['tls'],
})

/**
 * Schema of {@link RedisTransportOptions} (a Standard Schema; zod inside). Its output has every
 * default applied.
 */
export const redisOptionsSchema = schema as unknown as StandardSchemaV1<
  RedisTransportOptions,
  ResolvedRedisOptions & { readonly kind?: 'redis' }
>

/** Applies defaults and checks values; throws `ConfigError` naming every invalid or unknown field. */
export function resolveRedisOptions(options: RedisTransportOptions = {}): ResolvedRedisOptions {
  const { kind: _kind, ...resolved } = validateOptions(
    redisOptionsSchema,
    options,
    'Redis transport options',
    {
      transport: kind,
    },
  )
  const tls = resolved.tls as boolean | TlsConnectionOptions | undefined
  const tlsWanted = (tls !== undefined && tls !== false) || resolved.url.startsWith('rediss:')
  return {
    ...resolved,
    // The client takes TLS from the URL's scheme: `tls` given with `redis://` makes it `rediss://`.
    url: tlsWanted ? resolved.url.replace(/^redis:/, 'rediss:') : resolved.url,
    password: resolved.password,
    username: resolved.username,
    tls: tlsWanted ? (typeof tls === 'object' ? tls : {}) : undefined,
    retention: resolved.retention,
  }
}

/** Where the transport connects, without credentials (for errors and health). */
export const endpointOf = (url: string): string => {
  try {
    const parsed = new URL(url)
    return `${parsed.protocol}//${parsed.host}${parsed.pathname === '/' ? '' : parsed.pathname}`
  } catch {
    return 'redis'
  }
}
