/**
 * The transport contract suite against the NATS JetStream test server of the broker manager
 * (127.0.0.1:4232, file storage), including the server restart in the middle of a stream; and its
 * core scenarios again as a user with a password over TLS with a client certificate on the
 * `nats-auth` server (127.0.0.1:4233, which speaks only TLS and lets nobody in without a client
 * certificate of the test CA and credentials), restarted in the middle of a stream too.
 */
import { ensurePki, natsAuthConnection, natsConnection, restart, up } from '@switchyard/brokers'
import { transportContract } from '@switchyard/contract'
import { beforeAll } from 'vitest'
import { NatsTransport } from '../nats-transport.js'

// Made at load: the contract suite makes a transport (with the client certificate) as it registers.
await ensurePki()
// Starts the test NATS servers or reuses the running ones.
beforeAll(async () => {
  await up('nats')
  await up('nats-auth')
}, 120_000)

transportContract(
  'nats',
  () =>
    new NatsTransport({
      servers: natsConnection.servers,
      prefix: 'contract',
      reconnect: { initialDelayMs: 100, maxDelayMs: 1_000 },
      // A pull cancelled on unsubscribe can leave messages with the server's pull until ack_wait
      // (default 30 s, README); 10 s brings them back within the scenarios' waits (20 s here).
      ackWaitMs: 10_000,
    }),
  {
    timeScale: 4,
    // Nothing listens on port 1 of the loopback address.
    unreachable: () => new NatsTransport({ servers: ['127.0.0.1:1'] }),
    restartBroker: async () => {
      await restart('nats')
    },
  },
)

transportContract(
  'nats over TLS with a client certificate, as a user with a password (nats-auth)',
  () =>
    new NatsTransport({
      servers: natsAuthConnection.servers,
      tls: natsAuthConnection.tls(),
      user: natsAuthConnection.username,
      password: natsAuthConnection.password,
      prefix: 'contract-auth',
      reconnect: { initialDelayMs: 100, maxDelayMs: 1_000 },
      ackWaitMs: 10_000,
    }),
  {
    scenarios: ['delivery', 'groups', 'bus policies', 'broker restart'],
    timeScale: 4,
    restartBroker: async () => {
      await restart('nats-auth')
    },
  },
)
