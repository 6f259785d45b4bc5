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
  up,
} from '@switchyard/brokers'
import { connectOutcome, SecretScan, transportContract } from '@switchyard/contract'
import { isSwitchyardError, type TlsProblem } from '@switchyard/core'
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
  const wrong = `wrong-${randomUUID()}`
  const scan = new SecretScan()
  const stopOutput = scan.captureOutput()
  try {
    for (const password of [user.password, wrong]) {
      await scan.exercise(
        new RabbitMqTransport({
          ...login,
          username: user.username,
          password,
          port: conn.tlsPort,
          tls: clientTls(),
        }),
      )
    }
  } finally {
    stopOutput()
    await user.remove()
  }
  expect(scan.count).toBeGreaterThan(3)
  // The right password connected (health `up`), the wrong one was refused.
  expect(scan.text).toContain('"status":"up"')
  expect(scan.text).toContain('AuthenticationError')
  expect(scan.leaks({ 'the password': user.password, 'the wrong password': wrong })).toEqual([])
})

describe('rabbitmq: wrong TLS settings, credentials or permissions', () => {
  const tlsCases: readonly [string, () => RabbitMqTransportOptions, TlsProblem][] = [
    [
      'a server certificate from a CA the client does not trust',
      () => ({ ...login, port: conn.tlsPort, tls: { ...clientTls(), ca: readPem(pki.otherCaCert) } }),
      'untrusted-server-certificate',
    ],
    [
      'a server name the certificate is not issued for',
      () => ({ ...login, port: conn.tlsPort, tls: { ...clientTls(), servername: 'rabbit.example' } }),
      'server-name-mismatch',
    ],
    [
      'no client certificate',
      () => ({ ...login, port: conn.tlsPort, tls: { ca: readPem(pki.caCert) } }),
      'client-certificate-refused',
    ],
    [
      'a client certificate from another CA',
      () => ({
        ...login,
        port: conn.tlsPort,
        tls: {
          ca: readPem(pki.caCert),
          cert: readPem(pki.otherClientCert),
          key: readPem(pki.otherClientKey),
        },
      }),
      'client-certificate-refused',
    ],
    [
      'an expired client certificate',
      () => ({
        ...login,
        port: conn.tlsPort,
        tls: {
          ca: readPem(pki.caCert),
          cert: readPem(pki.expiredClientCert),
          key: readPem(pki.expiredClientKey),
        },
      }),
      'client-certificate-refused',
    ],
    [
      'a private key that does not belong to the client certificate',
      () => ({ ...login, port: conn.tlsPort, tls: { ...clientTls(), key: readPem(pki.otherClientKey) } }),
      'key-mismatch',
    ],
    [
      'a TLS client against the plaintext port',
      () => ({ ...login, port: conn.port, tls: clientTls() }),
      'not-a-tls-server',
    ],
    [
      'a plaintext client against the TLS port',
      () => ({ ...login, port: conn.tlsPort }),
      'server-requires-tls',
    ],
  ]

  it.each(tlsCases)('refuses %s with a TlsError that says what to do', async (_, options, problem) => {
    const { error, ms } = await attempt(options())
    expect(isSwitchyardError(error, 'TlsError'), String(error)).toBe(true)
    expect((error as { problem: TlsProblem }).problem).toBe(problem)
    expect((error as Error).message).toMatch(/^TLS to rabbitmq at 127\.0\.0\.1:\d+ failed: .+: .+/)
    expect((error as { retryable: boolean }).retryable).toBe(false)
    expect(ms).toBeLessThan(5_000)
  })

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
