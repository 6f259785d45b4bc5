/**
 * `redisTransport`: the factory of the Redis Streams transport, for `@switchyard/di` and transport
 * documents (`{ kind: 'redis', url: 'redis://…' }`). It pairs the kind with the options schema,
 * the credential fields, the `SWITCHYARD_REDIS_*` environment variables and the class.
 */
import type { Environment, TransportFactory } from '@switchyard/core'
import { environmentReaders } from '@switchyard/core/spi'
import { type RedisTransportOptions, type ResolvedRedisOptions, redisOptionsSchema } from './options.js'
import { RedisTransport } from './redis-transport.js'

const { defined, tls } = environmentReaders

/**
 * Builds a {@link RedisTransport} from `{ kind: 'redis', url, ...options }`.
 *
 * **When to use**: `configure(container, { transports: [redisTransport] })` in `@switchyard/di`,
 * or `readTransportDocument(store, key, { factories: [redisTransport] })` in `@switchyard/etcd`.
 *
 * **Details**: `password` and `tls.key`/`tls.passphrase`/`tls.pfx` must be secrets in a stored
 * document (so must a password inside `url`). `fromEnv` reads `SWITCHYARD_REDIS_URL` (default
 * `redis://127.0.0.1:6379`), `…_USERNAME`, `…_PASSWORD`, `…_PREFIX`, and for TLS `…_TLS`
 * (`true`) or the PEM files `…_TLS_CA_FILE`, `…_TLS_CERT_FILE`, `…_TLS_KEY_FILE`.
 *
 * @example
 * const transport = redisTransport.create({ url: 'redis://10.0.0.7:6379', prefix: 'billing:' })
 */
export const redisTransport: TransportFactory<RedisTransportOptions, ResolvedRedisOptions, 'redis'> = {
  kind: 'redis',
  packageName: '@switchyard/redis',
  optionsSchema: redisOptionsSchema,
  secretOptions: ['password', 'tls.key', 'tls.passphrase', 'tls.pfx'],
  fromEnv: (env: Environment) =>
    defined({
      url: env.SWITCHYARD_REDIS_URL || 'redis://127.0.0.1:6379',
      username: env.SWITCHYARD_REDIS_USERNAME || undefined,
      password: env.SWITCHYARD_REDIS_PASSWORD || undefined,
      prefix: env.SWITCHYARD_REDIS_PREFIX || undefined,
      tls: tls(env, 'SWITCHYARD_REDIS'),
    }),
  create: (options, publish) => new RedisTransport(options, publish),
}
