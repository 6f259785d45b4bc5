/**
 * The NATS transport over TLS against the `nats-auth` test server (TLS only, the test PKI's server
 * certificate, client certificates from the test CA required; `nats` on 4232 is the plaintext
 * server): every wrong TLS setting is a typed `TlsError` within 5 s; a wrong password over TLS is an
 * `AuthenticationError`; and neither the password of a user made for this run nor the client's
 * private key shows in anything the transport reports or the process writes. (The contract's core
 * scenarios over this connection are in `nats.contract.integration.test.ts`.)
 */
import { randomUUID } from 'node:crypto'
import {
  natsAuthConnection as auth,
  ensurePki,
  natsConnection,
  temporaryNatsAuthUser,
  testTlsMaterial,
  up,
} from '@switchyard/brokers'
import { connectOutcome, expectNoSecretShown, tlsRefusalContract } from '@switchyard/contract'
import { isSwitchyardError } from '@switchyard/core'
import { beforeAll, expect, it } from 'vitest'
import { NatsTransport } from '../nats-transport.js'

beforeAll(async () => {
  await ensurePki()
  await up('nats')
  await up('nats-auth')
}, 120_000)

const login = { user: auth.username, password: auth.password, prefix: 'tls-check' }

tlsRefusalContract('nats: wrong TLS settings', {
  kind: 'nats',
  material: testTlsMaterial,
  make: (port, tls) =>
    new NatsTransport({
      servers: port === 'tls' ? auth.servers : natsConnection.servers,
      ...login,
      ...(tls === undefined ? {} : { tls }),
    }),
})

it('refuses a wrong password over TLS with an AuthenticationError that does not show it', async () => {
  const { error, ms } = await connectOutcome(
    () =>
      new NatsTransport({ servers: auth.servers, tls: auth.tls(), ...login, password: 'not-the-password' }),
  )
  expect(isSwitchyardError(error, 'AuthenticationError'), String(error)).toBe(true)
  expect((error as Error).message).toMatch(/^nats refused the credentials: Authorization Violation/)
  expect((error as Error).message).not.toContain('not-the-password')
  expect(ms).toBeLessThan(5_000)
})

it('never shows the password or the client key over TLS (a user and passwords made for this run)', async () => {
  const user = await temporaryNatsAuthUser()
  const tls = auth.tls()
  // A line of the key's base64 body: what a leaked key would show.
  const keyLine = tls.key.split('\n')[1] as string
  expect(keyLine.length).toBeGreaterThan(40)
  try {
    await expectNoSecretShown(
      (password) =>
        new NatsTransport({ servers: auth.servers, tls, user: user.username, password, prefix: 'tls-check' }),
      { right: user.password, wrong: `wrong-${randomUUID()}`, others: { 'the client key': keyLine } },
    )
  } finally {
    await user.remove()
  }
})
