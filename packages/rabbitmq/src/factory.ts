/**
 * `rabbitmqTransport`: the factory of the RabbitMQ transport, for `@switchyard/di` and transport
 * documents (`{ kind: 'rabbitmq', url }`). It pairs the kind with the options schema, the
 * credential fields, the `SWITCHYARD_RABBITMQ_*` environment variables and the class; nothing else.
 */
import type { Environment, TransportFactory } from '@switchyard/core'
import { environmentReaders } from '@switchyard/core/spi'
import { type RabbitMqTransportOptions, rabbitmqOptionsSchema } from './options.js'
import { RabbitMqTransport } from './rabbitmq-transport.js'

const { number: num, defined } = environmentReaders

/**
 * Builds a {@link RabbitMqTransport} from `{ kind: 'rabbitmq', ...options }`.
 *
 * **When to use**: `configure(container, { transports: [rabbitmqTransport] })` in `@switchyard/di`,
 * or `readTransportDocument(store, key, { factories: [rabbitmqTransport] })` in `@switchyard/etcd`.
 *
 * **Details**: `url` (it usually carries the password), `password`, `tls.key`, `tls.passphrase`
 * and `tls.pfx` must be secrets in a stored document. `fromEnv` reads `SWITCHYARD_RABBITMQ_URL`,
 * or the parts `…_HOST`, `…_PORT`, `…_VHOST`, `…_USER`, `…_PASSWORD`; and `…_PREFETCH`.
 *
 * @example
 * const transport = rabbitmqTransport.create({ url: 'amqp://app:secret@10.0.0.7:5672/billing', prefetch: 32 })
 */
export const rabbitmqTransport: TransportFactory<RabbitMqTransportOptions, unknown, 'rabbitmq'> = {
  kind: 'rabbitmq',
  packageName: '@switchyard/rabbitmq',
  optionsSchema: rabbitmqOptionsSchema,
  secretOptions: ['url', 'password', 'tls.key', 'tls.passphrase', 'tls.pfx'],
  fromEnv: (env: Environment) =>
    env.SWITCHYARD_RABBITMQ_URL
      ? defined({ url: env.SWITCHYARD_RABBITMQ_URL, prefetch: num(env.SWITCHYARD_RABBITMQ_PREFETCH) })
      : defined({
          host: env.SWITCHYARD_RABBITMQ_HOST || undefined,
          port: num(env.SWITCHYARD_RABBITMQ_PORT),
          vhost: env.SWITCHYARD_RABBITMQ_VHOST || undefined,
          username: env.SWITCHYARD_RABBITMQ_USER || undefined,
          password: env.SWITCHYARD_RABBITMQ_PASSWORD || undefined,
          prefetch: num(env.SWITCHYARD_RABBITMQ_PREFETCH),
        }),
  create: (options, publish) => new RabbitMqTransport(options, publish),
}
