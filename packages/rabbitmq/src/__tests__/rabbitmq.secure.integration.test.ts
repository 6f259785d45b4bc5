/**
 * The RabbitMQ transport over TLS against "rabbitmq-secure", a separate RabbitMQ node the broker
 * manager starts for this file and stops after it: `verify_peer` with `fail_if_no_peer_cert` (the
 * client shows a certificate from the test CA) and PLAIN login as a user whose permissions are the
 * README's documented minimum (its vhost only; configure/write/read on the transport's own names).
 * The contract's core scenarios run over that connection, proving the minimum suffices; a second
 * prefix is refused, proving the limits are real; and every way of getting TLS or the login wrong is
 * a typed error within 5 s that says what to do.
 */
import { randomUUID } from 'node:crypto'
import {
  rabbitmqSecureConnection as conn,
  down,
  ensurePki,
  readPem,
  restart,
  type TestPki,
  temporaryRabbitmqSecureUser,
  testTlsMaterial,
  up,
} from '@switchyard/brokers'
import {
  connectOutcome,
  expectNoSecretShown,
  tlsRefusalContract,
  transportContract,
} from '@switchyard/contract'
import { isSwitchyardError } from '@switchyard/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RabbitMqTransportOptions } from '../options.js'
import { RabbitMqTransport } from '../rabbitmq-transport.js'

// Read at load: the contract suite makes a transport while it registers its tests.
const pki: TestPki = await ensurePki()
beforeAll(async () => {
  await up('rabbitmq-secure')
}, 240_000)
afterAll(async () => {
  await down('rabbitmq-secure')
}, 120_000)

const login = { host: conn.host, vhost: conn.vhost, username: conn.username, password: conn.password }
const clientTls = () => ({
  ca: readPem(pki.caCert),
  cert: readPem(pki.clientCert),
  key: readPem(pki.clientKey),
})

/** Connects and returns what `connect()` threw (or `undefined`), and how long it took. */
const attempt = (options: RabbitMqTransportOptions) => connectOutcome(() => new RabbitMqTransport(options))

transportContract(
  'rabbitmq over TLS with a client certificate, minimum permissions',
  () =>
    new RabbitMqTransport({
      ...login,
      port: conn.tlsPort,
      tls: clientTls(),
      reconnect: { initialDelayMs: 100, maxDelayMs: 1_000 },
    }),
  {
    scenarios: ['delivery', 'groups', 'bus policies', 'broker restart'],
    timeScale: 4,
    restartBroker: async () => {
      await restart('rabbitmq-secure')
    },
  },
)

it('never shows the password in health, status, errors or output (a user and passwords made for this run)', async () => {
  // A user with the documented minimum permissions whose password exists only in this run.
  const user = await temporaryRabbitmqSecureUser()
  try {
    await expectNoSecretShown(
      (password) =>
        new RabbitMqTransport({
          ...login,
          username: user.username,
          password,
          port: conn.tlsPort,
          tls: clientTls(),
        }),
      { right: user.password, wrong: `wrong-${randomUUID()}` },
    )
  } finally {
    await user.remove()
  }
})

tlsRefusalContract('rabbitmq: wrong TLS settings', {
  kind: 'rabbitmq',
  material: testTlsMaterial,
  make: (port, tls) =>
    new RabbitMqTransport({
      ...login,
      port: port === 'tls' ? conn.tlsPort : conn.port,
      ...(tls === undefined ? {} : { tls }),
    }),
})

describe('rabbitmq: wrong credentials or permissions', () => {
  it('refuses a wrong password over TLS with an AuthenticationError that does not show it', async () => {
    const { error, ms } = await attempt({
      ...login,
      password: 'not-the-password',
      port: conn.tlsPort,
      tls: clientTls(),
    })
    expect(isSwitchyardError(error, 'AuthenticationError'), String(error)).toBe(true)
    expect((error as Error).message).toMatch(/^rabbitmq refused the credentials: login refused/)
    expect((error as Error).message).not.toContain('not-the-password')
    expect(ms).toBeLessThan(5_000)
  })

  it('refuses a naming prefix outside the permissions: the limits are real', async () => {
    const { error, ms } = await attempt({ ...login, prefix: 'other', port: conn.tlsPort, tls: clientTls() })
    expect(isSwitchyardError(error, 'AuthenticationError'), String(error)).toBe(true)
    expect((error as Error).message).toMatch(/^rabbitmq refused the credentials: the user may not declare/)
    expect(ms).toBeLessThan(5_000)
  })
})
