/**
 * The transport contract suite against the Switchyard test Redis (`@switchyard/brokers`, port
 * 6390, AOF on), including the broker restart in the middle of 10,000 messages; and its core
 * scenarios again over TLS with a client certificate (the server's TLS port, 6393) as the ACL user
 * `up redis` makes, whose rights are the README's documented minimum (keys under `switchyard:`
 * only, the commands the transport sends), restart included.
 */
import { ensurePki, redisConnection, restart, testClientTls, up } from '@switchyard/brokers'
import { transportContract } from '@switchyard/contract'
import { beforeAll } from 'vitest'
import { RedisTransport } from '../redis-transport.js'

// Made at load: the contract suite makes a transport (with the client certificate) as it registers.
await ensurePki()
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

transportContract(
  'redis over TLS with a client certificate, as an ACL user with the documented minimum permissions',
  () =>
    new RedisTransport({
      url: redisConnection.tlsUrl,
      tls: testClientTls(),
      username: redisConnection.aclUser,
      password: redisConnection.aclPassword,
      prefix: `${redisConnection.aclKeyPrefix}contract-acl:`,
      reconnect: { initialDelayMs: 100, maxDelayMs: 1_000 },
    }),
  {
    scenarios: ['delivery', 'groups', 'bus policies', 'broker restart'],
    timeScale: 4,
    restartBroker: async () => {
      await restart('redis')
    },
  },
)
