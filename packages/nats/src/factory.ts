/**
 * `natsTransport`: the factory of the NATS JetStream transport, for `@switchyard/di` and transport
 * documents (`{ kind: 'nats', servers }`). It pairs the kind with the options schema, the
 * credential fields, the `SWITCHYARD_NATS_*` environment variables and the class; nothing else.
 */
import type { Environment, TransportFactory } from '@switchyard/core'
import { environmentReaders } from '@switchyard/core/spi'
import { NatsTransport } from './nats-transport.js'
import { type NatsTransportOptions, natsOptionsSchema } from './options.js'

const { list, number: num, defined, tls } = environmentReaders

/**
 * Builds a {@link NatsTransport} from `{ kind: 'nats', ...options }`.
 *
 * **When to use**: `configure(container, { transports: [natsTransport] })` in `@switchyard/di`,
 * or `readTransportDocument(store, key, { factories: [natsTransport] })` in `@switchyard/etcd`.
 *
 * **Details**: `password`, `token`, `nkeySeed` and `tls.key`/`tls.passphrase`/`tls.pfx` must be
 * secrets in a stored document. `fromEnv` reads `SWITCHYARD_NATS_SERVERS` (comma-separated),
 * `…_USER`, `…_PASSWORD`, `…_TOKEN`, `…_NKEY_SEED`, `…_PREFIX`, `…_PREFETCH`, and for TLS `…_TLS`
 * (`true`) or the PEM files `…_TLS_CA_FILE`, `…_TLS_CERT_FILE`, `…_TLS_KEY_FILE`.
 *
 * @example
 * const transport = natsTransport.create({ servers: ['10.0.0.7:4222'], prefix: 'billing' })
 */
export const natsTransport: TransportFactory<NatsTransportOptions, unknown, 'nats'> = {
  kind: 'nats',
  packageName: '@switchyard/nats',
  optionsSchema: natsOptionsSchema,
  secretOptions: ['password', 'token', 'nkeySeed', 'tls.key', 'tls.passphrase', 'tls.pfx'],
  fromEnv: (env: Environment) =>
    defined({
      servers: list(env.SWITCHYARD_NATS_SERVERS),
      user: env.SWITCHYARD_NATS_USER || undefined,
      password: env.SWITCHYARD_NATS_PASSWORD || undefined,
      token: env.SWITCHYARD_NATS_TOKEN || undefined,
      nkeySeed: env.SWITCHYARD_NATS_NKEY_SEED || undefined,
      prefix: env.SWITCHYARD_NATS_PREFIX || undefined,
      prefetch: num(env.SWITCHYARD_NATS_PREFETCH),
      tls: tls(env, 'SWITCHYARD_NATS'),
    }),
  create: (options, publish) => new NatsTransport(options, publish),
}
