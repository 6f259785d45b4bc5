/**
 * The telemetry suite on the real brokers of `@switchyard/brokers`: the `traceparent` header must
 * survive Kafka record headers and RabbitMQ message properties, and spans and metrics must carry
 * the same names and attributes as on memory.
 */
import { kafkaConnection, rabbitmqConnection, up } from '@switchyard/brokers'
import { KafkaTransport } from '@switchyard/kafka'
import { RabbitMqTransport } from '@switchyard/rabbitmq'
import { beforeAll } from 'vitest'
import { telemetrySuite } from './telemetry-suite.js'

// Starts the brokers or reuses the running ones (and RabbitMQ's test vhost and user).
beforeAll(async () => {
  await up('kafka')
  await up('rabbitmq')
}, 120_000)

telemetrySuite(
  'kafka',
  () => new KafkaTransport({ brokers: kafkaConnection.brokers, clientId: 'switchyard-otel' }),
  {
    system: 'kafka',
    timeoutMs: 60_000,
    messageAttributes: (_topic, key) => ({ 'messaging.kafka.message.key': key }),
  },
)

telemetrySuite('rabbitmq', () => new RabbitMqTransport({ url: rabbitmqConnection.url }), {
  system: 'rabbitmq',
  timeoutMs: 20_000,
  messageAttributes: (topic) => ({ 'messaging.rabbitmq.destination.routing_key': topic }),
})
