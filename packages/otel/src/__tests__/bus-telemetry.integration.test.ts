/**
 * The telemetry suite on the real brokers of `@switchyard/brokers`: the `traceparent` header must
 * survive Kafka record headers, RabbitMQ message properties, Redis stream entry fields and NATS
 * headers, and spans and metrics must carry the same names and attributes as on memory.
 */
import { kafkaConnection, natsConnection, rabbitmqConnection, redisConnection, up } from '@switchyard/brokers'
import { KafkaTransport } from '@switchyard/kafka'
import { NatsTransport } from '@switchyard/nats'
import { RabbitMqTransport } from '@switchyard/rabbitmq'
import { RedisTransport } from '@switchyard/redis'
import { beforeAll } from 'vitest'
import { telemetrySuite } from './telemetry-suite.js'

// Starts the brokers or reuses the running ones (and RabbitMQ's test vhost and user).
beforeAll(async () => {
  await up('kafka')
  await up('rabbitmq')
  await up('redis')
  await up('nats')
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

// Neither is a well-known `messaging.system` of the conventions: the transport's kind is used.
telemetrySuite('redis', () => new RedisTransport({ url: redisConnection.url, prefix: 'otel:' }), {
  system: 'redis',
  timeoutMs: 20_000,
})

telemetrySuite('nats', () => new NatsTransport({ servers: natsConnection.servers, prefix: 'otel' }), {
  system: 'nats',
  timeoutMs: 20_000,
})
