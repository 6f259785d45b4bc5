/**
 * The transport contract suite against the Switchyard test Redis (`@switchyard/brokers`, port
 * 6390, AOF on), including the broker restart in the middle of 10,000 messages.
 */
import { redisConnection, restart, up } from '@switchyard/brokers'
import { transportContract } from '@switchyard/contract'
import { beforeAll } from 'vitest'
import { RedisTransport } from '../redis-transport.js'

beforeAll(async () => {
  await up('redis')
}, 120_000)

transportContract(
  'redis',
  () =>
    new RedisTransport({
      url: redisConnection.url,
      prefix: 'contract:',
      reconnect: { initialDelayMs: 100, maxDelayMs: 1_000 },
    }),
  {
    timeScale: 4,
    // Nothing listens on port 1 of the loopback address.
    unreachable: () => new RedisTransport({ url: `redis://${redisConnection.host}:1` }),
    restartBroker: async () => {
      await restart('redis')
    },
  },
)
