/**
 * The health-server suite on the real brokers: `/readyz` reports the Kafka and RabbitMQ
 * transports' `health()`, and `/metrics` (checked by promtool) has the same families as on memory.
 * Run under the brokers lock:
 * flock /tmp/switchyard-brokers.lock npx vitest run --project integration packages/di/src/__tests__/health-server.integration.test.ts
 */
import 'reflect-metadata'
import { kafkaConnection, rabbitmqConnection, up } from '@switchyard/brokers'
import { KafkaTransport } from '@switchyard/kafka'
import { RabbitMqTransport } from '@switchyard/rabbitmq'
import { beforeAll } from 'vitest'
import { healthSuite } from './health-suite.js'

beforeAll(async () => {
  await up('kafka')
  await up('rabbitmq')
}, 120_000)

const kafka = () => new KafkaTransport({ brokers: kafkaConnection.brokers, clientId: 'switchyard-health' })
healthSuite('kafka', kafka, { system: 'kafka', timeoutMs: 60_000, admin: kafka })

const rabbitmq = () => new RabbitMqTransport({ url: rabbitmqConnection.url })
healthSuite('rabbitmq', rabbitmq, { system: 'rabbitmq', timeoutMs: 20_000, admin: rabbitmq })
