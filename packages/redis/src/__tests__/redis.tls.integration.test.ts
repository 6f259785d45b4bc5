/**
 * The Redis transport over TLS against the test Redis's TLS port (`up redis`: the test PKI's server
 * certificate, client certificates from the test CA required): every wrong TLS setting is a typed
 * `TlsError` within 5 s; a wrong password over TLS is an `AuthenticationError`; and neither the
 * password of a user made for this run nor the client's private key shows in anything the
 * transport reports or the process writes. (The contract's core scenarios over this connection,
 * as the ACL user, are in `redis.contract.integration.test.ts`.)
 */
import { randomUUID } from 'node:crypto'
import {
  redisConnection as conn,
  ensurePki,
  temporaryRedisUser,
  testClientTls,
  testTlsMaterial,
  up,
} from '@switchyard/brokers'
import { connectOutcome, expectNoSecretShown, tlsRefusalContract } from '@switchyard/contract'
import { isSwitchyardError } from '@switchyard/core'
import { beforeAll, expect, it } from 'vitest'
import { RedisTransport } from '../redis-transport.js'

beforeAll(async () => {
  await ensurePki()
  await up('redis')
}, 120_000)

const acl = { username: conn.aclUser, password: conn.aclPassword }

tlsRefusalContract('redis: wrong TLS settings', {
  kind: 'redis',
  material: testTlsMaterial,
  make: (port, tls) =>
    new RedisTransport({
      url: port === 'tls' ? `redis://${conn.host}:${conn.tlsPort}` : conn.url,
      ...acl,
      ...(tls === undefined ? {} : { tls }),
    }),
})

it('refuses a wrong password over TLS with an AuthenticationError that does not show it', async () => {
  const { error, ms } = await connectOutcome(
    () =>
      new RedisTransport({ url: conn.tlsUrl, tls: testClientTls(), ...acl, password: 'not-the-password' }),
  )
  expect(isSwitchyardError(error, 'AuthenticationError'), String(error)).toBe(true)
  expect((error as Error).message).toMatch(/^redis refused the credentials: WRONGPASS/)
  expect((error as Error).message).not.toContain('not-the-password')
  expect(ms).toBeLessThan(5_000)
})

it('never shows the password or the client key over TLS (a user and passwords made for this run)', async () => {
  const prefix = `${conn.aclKeyPrefix}tls-${randomUUID().slice(0, 8)}:`
  const user = await temporaryRedisUser(prefix)
  const tls = testClientTls()
  // A line of the key's base64 body: what a leaked key would show.
  const keyLine = tls.key.toString().split('\n')[1] as string
  expect(keyLine.length).toBeGreaterThan(40)
  try {
    await expectNoSecretShown(
      (password) => new RedisTransport({ url: conn.tlsUrl, tls, username: user.username, password, prefix }),
      { right: user.password, wrong: `wrong-${randomUUID()}`, others: { 'the client key': keyLine } },
    )
  } finally {
    await user.remove()
  }
})
