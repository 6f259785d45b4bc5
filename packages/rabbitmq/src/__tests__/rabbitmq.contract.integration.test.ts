/**
 * The transport contract suite against the real RabbitMQ of the test brokers (dedicated vhost
 * and user from `@switchyard/brokers`), including the broker restart in the middle of a stream.
 * `maxPriority` is set so the suite tests the `priority` capability on the queues it creates.
 */
import { rabbitmqConnection, restart, up } from '@switchyard/brokers'
import { transportContract } from '@switchyard/contract'
import { beforeAll } from 'vitest'
import { RabbitMqTransport } from '../rabbitmq-transport.js'

// Starts RabbitMQ or reuses the running one, and makes sure the tests' vhost and user exist.
beforeAll(async () => {
  await up('rabbitmq')
}, 120_000)

transportContract(
  'rabbitmq',
  () =>
    new RabbitMqTransport({
      url: rabbitmqConnection.url,
      queueDefaults: { maxPriority: 9 },
      reconnect: { initialDelayMs: 100, maxDelayMs: 1_000 },
    }),
  {
    timeScale: 4,
    // Nothing listens on port 1 of the loopback address.
    unreachable: () =>
      new RabbitMqTransport({ url: rabbitmqConnection.url.replace(`:${rabbitmqConnection.port}/`, ':1/') }),
    restartBroker: async () => {
      await restart('rabbitmq')
    },
  },
)
