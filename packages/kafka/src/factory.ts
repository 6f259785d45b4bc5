/**
 * `kafkaTransport`: the factory of the Kafka transport, for `@switchyard/di` and transport
 * documents (`{ kind: 'kafka', brokers: [...] }`). It pairs the kind with the options schema, the
 * credential fields, the `SWITCHYARD_KAFKA_*` environment variables and the class; nothing else.
 */
import type { Environment, TransportFactory } from '@switchyard/core'
import { environmentReaders } from '@switchyard/core/spi'
import { KafkaTransport } from './kafka-transport.js'
import { type KafkaTransportOptions, kafkaOptionsSchema, type ResolvedKafkaOptions } from './options.js'

const { list, boolean: bool, number: num, defined } = environmentReaders

/**
 * Builds a {@link KafkaTransport} from `{ kind: 'kafka', brokers, ...options }`.
 *
 * **When to use**: `configure(container, { transports: [kafkaTransport] })` in `@switchyard/di`,
 * or `readTransportDocument(store, key, { factories: [kafkaTransport] })` in `@switchyard/etcd`.
 *
 * **Details**: credentials (`sasl.password`, `sasl.secretAccessKey`, `sasl.sessionToken`,
 * `ssl.key`, `ssl.passphrase`, `ssl.pfx`) must be secrets in a stored document. `fromEnv` reads
 * `SWITCHYARD_KAFKA_BROKERS` (default `127.0.0.1:9092`), `…_CLIENT_ID`, `…_CLIENT` (`kafkajs` or
 * `platformatic`), `…_SSL`,
 * `…_PARTITIONS` and `…_SASL_MECHANISM` / `…_SASL_USERNAME` / `…_SASL_PASSWORD`.
 *
 * @example
 * const transport = kafkaTransport.create({ brokers: ['10.0.0.5:9092'], clientId: 'billing' })
 */
export const kafkaTransport: TransportFactory<KafkaTransportOptions, ResolvedKafkaOptions, 'kafka'> = {
  kind: 'kafka',
  packageName: '@switchyard/kafka',
  optionsSchema: kafkaOptionsSchema,
  secretOptions: [
    'sasl.password',
    'sasl.secretAccessKey',
    'sasl.sessionToken',
    'ssl.key',
    'ssl.passphrase',
    'ssl.pfx',
  ],
  fromEnv: (env: Environment) =>
    defined({
      brokers: list(env.SWITCHYARD_KAFKA_BROKERS) ?? ['127.0.0.1:9092'],
      clientId: env.SWITCHYARD_KAFKA_CLIENT_ID || undefined,
      client: (env.SWITCHYARD_KAFKA_CLIENT || undefined) as KafkaTransportOptions['client'],
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
  create: (options, publish) => new KafkaTransport(options, publish),
}
