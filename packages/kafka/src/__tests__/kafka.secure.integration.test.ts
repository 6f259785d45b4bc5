/**
 * The Kafka transport over SASL_SSL (TLS with the test CA, SCRAM-SHA-512) against "kafka-secure", a
 * separate single-node Kafka the broker manager starts for this file and stops after it, on both
 * clients: the contract's core scenarios over that connection, a round trip over its mutual-TLS
 * listener (`SSL`, `ssl.client.auth=required`) with the test client certificate, and every way of
 * getting TLS, the client certificate or SASL wrong — each a typed error within 5 s that says what to
 * do, never a retry loop or a hang. The secret scan logs in as a SCRAM user made for the run
 * (`temporaryKafkaSecureUser`), so the password it looks for exists nowhere else.
 */

import { randomUUID } from 'node:crypto'
import type { ConnectionOptions } from 'node:tls'
import {
  down,
  ensurePki,
  kafkaSecureConnection,
  readPem,
  restart,
  type TestPki,
  temporaryKafkaSecureUser,
  up,
} from '@switchyard/brokers'
import {
  collect,
  connectOutcome,
  createMessage,
  payloadText,
  SecretScan,
  transportContract,
  uniqueName,
} from '@switchyard/contract'
import { isSwitchyardError, type TlsProblem } from '@switchyard/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { KafkaTransport } from '../kafka-transport.js'
import type { KafkaTransportOptions } from '../options.js'
import type { ClientCertificateFinding } from '../tls-check.js'
import { announceSkippedClients, kafkaClients } from './kafka-clients.js'

announceSkippedClients('kafka.secure.integration.test.ts')

// Read at load: the contract suite makes a transport while it registers its tests.
const pki: TestPki = await ensurePki()
beforeAll(async () => {
  await up('kafka-secure')
}, 240_000)
afterAll(async () => {
  await down('kafka-secure')
}, 120_000)

const scram = (
  password: string = kafkaSecureConnection.password,
): NonNullable<KafkaTransportOptions['sasl']> => ({
  mechanism: 'scram-sha-512',
  username: kafkaSecureConnection.username,
  password,
})

/** Connects and returns what `connect()` threw (or `undefined`), and how long it took. */
const attempt = (options: KafkaTransportOptions) =>
  connectOutcome(() => new KafkaTransport({ clientId: 'switchyard-secure', ...options }))

for (const { client, runs } of kafkaClients) {
  if (!runs) continue
  const secure = (): KafkaTransport =>
    new KafkaTransport({
      brokers: kafkaSecureConnection.brokers,
      clientId: 'switchyard-secure',
      client,
      ssl: { ca: readPem(pki.caCert) },
      sasl: scram(),
    })

  transportContract(`kafka over SASL_SSL (${client})`, secure, {
    scenarios: ['delivery', 'groups', 'bus policies', 'broker restart'],
    restartBroker: async () => {
      await restart('kafka-secure')
    },
    timeScale: 10,
  })

  it(`kafka (${client}): never shows the SASL password in logs (debug), health, status or errors`, async () => {
    // A SCRAM user whose password, like the wrong one, exists only in this run.
    const user = await temporaryKafkaSecureUser()
    const wrong = `wrong-${randomUUID()}`
    try {
      const scan = new SecretScan()
      const options = (password: string): KafkaTransportOptions => ({
        brokers: kafkaSecureConnection.brokers,
        clientId: 'switchyard-secure',
        client,
        ssl: { ca: readPem(pki.caCert) },
        sasl: { mechanism: 'scram-sha-512', username: user.username, password },
        logLevel: 'debug',
        logger: scan.capture,
      })
      for (const password of [user.password, wrong]) {
        await scan.exercise(new KafkaTransport(options(password)))
      }
      expect(scan.count).toBeGreaterThan(5)
      const text = scan.text
      expect(text).toContain('AuthenticationError')
      expect(scan.leaks({ 'the password': user.password, 'the wrong password': wrong })).toEqual([])
    } finally {
      await user.remove()
    }
  })

  describe(`kafka (${client}): wrong TLS or SASL settings`, () => {
    const tlsCases: readonly [string, () => KafkaTransportOptions, TlsProblem][] = [
      [
        'a server certificate from a CA the client does not trust',
        () => ({
          brokers: kafkaSecureConnection.brokers,
          ssl: { ca: readPem(pki.otherCaCert) },
          sasl: scram(),
        }),
        'untrusted-server-certificate',
      ],
      [
        'a server name the certificate is not issued for',
        () => ({
          brokers: kafkaSecureConnection.brokers,
          ssl: { ca: readPem(pki.caCert), servername: 'kafka.example' },
          sasl: scram(),
        }),
        'server-name-mismatch',
      ],
      [
        'a private key that does not belong to the client certificate',
        () => ({
          brokers: kafkaSecureConnection.brokers,
          ssl: { ca: readPem(pki.caCert), cert: readPem(pki.clientCert), key: readPem(pki.otherClientKey) },
          sasl: scram(),
        }),
        'key-mismatch',
      ],
      [
        'a TLS client against the plaintext port',
        () => ({ brokers: kafkaSecureConnection.plaintextBrokers, ssl: { ca: readPem(pki.caCert) } }),
        'not-a-tls-server',
      ],
      [
        'a plaintext client against the SASL_SSL port',
        () => ({ brokers: kafkaSecureConnection.brokers, sasl: scram() }),
        'server-requires-tls',
      ],
      [
        'a plaintext client against the mutual-TLS port',
        () => ({ brokers: kafkaSecureConnection.mtlsBrokers }),
        'server-requires-tls',
      ],
    ]

    it.each(tlsCases)('refuses %s with a TlsError that says what to do', async (_, options, problem) => {
      const { error, ms } = await attempt({ ...options(), client })
      expect(isSwitchyardError(error, 'TlsError'), String(error)).toBe(true)
      expect((error as { problem: TlsProblem }).problem).toBe(problem)
      expect((error as Error).message).toMatch(/^TLS to kafka at 127\.0\.0\.1:\d+ failed: .+: .+/)
      expect((error as { retryable: boolean }).retryable).toBe(false)
      expect(ms).toBeLessThan(5_000)
    })

    it.each([
      ['a wrong password', () => scram('not-the-password')],
      ['an unknown user', () => ({ mechanism: 'scram-sha-512' as const, username: 'nobody', password: 'x' })],
    ])('refuses %s with an AuthenticationError, and never shows the password', async (_, sasl) => {
      const { error, ms } = await attempt({
        brokers: kafkaSecureConnection.brokers,
        ssl: { ca: readPem(pki.caCert) },
        sasl: sasl(),
        client,
      })
      expect(isSwitchyardError(error, 'AuthenticationError'), String(error)).toBe(true)
      expect((error as Error).message).toMatch(/^kafka refused the credentials: .+Check user, password/)
      expect((error as Error).message).not.toContain('not-the-password')
      expect(JSON.stringify((error as { context?: unknown }).context)).not.toContain('not-the-password')
      expect(ms).toBeLessThan(5_000)
    })
  })

  describe(`kafka (${client}): mutual TLS (an SSL listener with ssl.client.auth=required)`, () => {
    const mtls = (ssl: ConnectionOptions): KafkaTransportOptions => ({
      brokers: kafkaSecureConnection.mtlsBrokers,
      clientId: 'switchyard-secure',
      client,
      ssl,
    })

    it('connects with a client certificate from the trusted CA, and a message round-trips', async () => {
      const t = new KafkaTransport(
        mtls({ ca: readPem(pki.caCert), cert: readPem(pki.clientCert), key: readPem(pki.clientKey) }),
      )
      const topic = uniqueName('kafka.mtls')
      const group = uniqueName('g')
      try {
        await t.provision(topic, { groups: [group] })
        const c = collect(t, topic, { group, timeoutMs: 30_000 })
        try {
          await c.ready
          const m = createMessage(topic, { payload: 'over mutual TLS', key: 'k1' })
          await t.publish([m])
          const got = await c.waitForDelivery((d) => d.message.id === m.id, 'the published message')
          expect(payloadText(got.message.payload)).toBe('over mutual TLS')
          expect(got.message.key).toBe('k1')
          expect(c.settleErrors).toEqual([])
          expect((await t.health()).status).toBe('up')
        } finally {
          c.stop()
        }
        await t.deprovision(topic, { groups: [group] })
      } finally {
        await t.close({ drain: false })
      }
    })

    const refusals: readonly [string, () => ConnectionOptions, ClientCertificateFinding, RegExp][] = [
      [
        'no client certificate',
        () => ({ ca: readPem(pki.caCert) }),
        'missing',
        /This client sent no certificate: set ssl\.cert and ssl\.key/,
      ],
      [
        'a client certificate from a CA the broker does not trust',
        () => ({
          ca: readPem(pki.caCert),
          cert: readPem(pki.otherClientCert),
          key: readPem(pki.otherClientKey),
        }),
        'untrusted-issuer',
        /does not trust its issuer \(CN=Switchyard Untrusted CA\)/,
      ],
      [
        'an expired client certificate',
        () => ({
          ca: readPem(pki.caCert),
          cert: readPem(pki.expiredClientCert),
          key: readPem(pki.expiredClientKey),
        }),
        'expired',
        /The client certificate \(subject CN=switchyard-client\) expired on 2020-01-02T00:00:00\.000Z/,
      ],
    ]

    it.each(refusals)(
      'refuses %s with a TlsError (client-certificate-refused) that says why',
      async (_, ssl, finding, why) => {
        const options = mtls(ssl())
        const { error, ms } = await attempt(options)
        expect(isSwitchyardError(error, 'TlsError'), String(error)).toBe(true)
        const tls = error as Error & {
          problem: TlsProblem
          retryable: boolean
          context: Record<string, unknown>
        }
        expect(tls.problem).toBe('client-certificate-refused')
        expect(tls.message).toMatch(
          new RegExp(
            `^TLS to kafka at 127\\.0\\.0\\.1:${kafkaSecureConnection.mtlsPort} failed: the server refused this client: .+\\. `,
          ),
        )
        expect(tls.message).toMatch(why)
        expect(tls.context.clientCertificate).toBe(finding)
        expect(tls.retryable).toBe(false)
        expect(ms).toBeLessThan(5_000)
        // No private key material shows: not in the message, not in the context.
        const shown = `${tls.message} ${JSON.stringify(tls.context)}`
        expect(shown).not.toContain('PRIVATE KEY')
        for (const key of [pki.clientKey, pki.otherClientKey, pki.expiredClientKey]) {
          expect(shown).not.toContain(readPem(key).toString('utf8').split('\n')[1])
        }
      },
    )
  })
}
