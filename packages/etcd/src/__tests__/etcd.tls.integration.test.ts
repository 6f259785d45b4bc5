/**
 * The etcd config store over TLS with client certificates, against the TLS-only etcd the broker
 * manager starts (`up etcd-tls`, test CA made by `ensurePki()`), and every way of getting TLS wrong:
 * each is a typed error that says what to do, within a second, never a retry loop.
 */
import { ensurePki, etcdConnection, etcdTlsConnection, readPem, type TestPki, up } from '@switchyard/brokers'
import { isSwitchyardError, type TlsProblem } from '@switchyard/core'
import { beforeAll, describe, expect, it } from 'vitest'
import { EtcdConfigStore, type EtcdConfigStoreOptions } from '../etcd-config-store.js'

let pki: TestPki
beforeAll(async () => {
  await up('etcd-tls')
  await up('etcd')
  pki = await ensurePki()
}, 120_000)

const credentials = (
  ca: string,
  cert?: string,
  key?: string,
): NonNullable<EtcdConfigStoreOptions['credentials']> => ({
  rootCertificate: readPem(ca),
  ...(cert === undefined ? {} : { certChain: readPem(cert) }),
  ...(key === undefined ? {} : { privateKey: readPem(key) }),
})

/** Runs a put and returns what it threw (or `undefined`), and how long it took. */
async function attempt(options: EtcdConfigStoreOptions): Promise<{ error: unknown; ms: number }> {
  const began = Date.now()
  let store: EtcdConfigStore | undefined
  try {
    store = new EtcdConfigStore({ namespace: '/switchyard-test/tls/', ...options })
    await store.put('probe', { at: began })
    return { error: undefined, ms: Date.now() - began }
  } catch (error) {
    return { error, ms: Date.now() - began }
  } finally {
    await store?.close().catch(() => undefined)
  }
}

describe('EtcdConfigStore over TLS', () => {
  it('reads and writes with the CA and a client certificate the server trusts', async () => {
    const store = new EtcdConfigStore({
      endpoints: etcdTlsConnection.endpoints,
      namespace: '/switchyard-test/tls/',
      credentials: credentials(pki.caCert, pki.clientCert, pki.clientKey),
    })
    try {
      await store.put('greeting', { text: 'over TLS' })
      expect((await store.get('greeting'))?.value).toEqual({ text: 'over TLS' })
      await store.delete('greeting')
    } finally {
      await store.close()
    }
  })

  const wrong: readonly [string, () => EtcdConfigStoreOptions, TlsProblem][] = [
    [
      'a server certificate from a CA the client does not trust',
      () => ({
        endpoints: etcdTlsConnection.endpoints,
        credentials: credentials(pki.otherCaCert, pki.clientCert, pki.clientKey),
      }),
      'untrusted-server-certificate',
    ],
    [
      'no client certificate',
      () => ({ endpoints: etcdTlsConnection.endpoints, credentials: credentials(pki.caCert) }),
      'client-certificate-refused',
    ],
    [
      'a client certificate from another CA',
      () => ({
        endpoints: etcdTlsConnection.endpoints,
        credentials: credentials(pki.caCert, pki.otherClientCert, pki.otherClientKey),
      }),
      'client-certificate-refused',
    ],
    [
      'an expired client certificate',
      () => ({
        endpoints: etcdTlsConnection.endpoints,
        credentials: credentials(pki.caCert, pki.expiredClientCert, pki.expiredClientKey),
      }),
      'client-certificate-refused',
    ],
    [
      'a private key that does not belong to the certificate',
      () => ({
        endpoints: etcdTlsConnection.endpoints,
        credentials: credentials(pki.caCert, pki.clientCert, pki.otherClientKey),
      }),
      'key-mismatch',
    ],
    [
      'a TLS client against the plaintext port',
      () => ({
        endpoints: [`https://${etcdConnection.host}:${etcdConnection.port}`],
        credentials: credentials(pki.caCert, pki.clientCert, pki.clientKey),
      }),
      'not-a-tls-server',
    ],
  ]

  it.each(wrong)('refuses %s with a TlsError that says what to do', async (_, options, problem) => {
    const { error, ms } = await attempt(options())
    expect(isSwitchyardError(error, 'TlsError')).toBe(true)
    expect((error as { problem: TlsProblem }).problem).toBe(problem)
    expect((error as Error).message).toMatch(/^TLS to etcd at .+ failed: /)
    expect((error as { retryable: boolean }).retryable).toBe(false)
    expect(ms).toBeLessThan(5_000)
  })

  it('refuses a plaintext client against the TLS port with a TlsError that says to turn TLS on', async () => {
    // gRPC says only "failed to connect", as for an outage: the store asks the port for a TLS handshake.
    const { error, ms } = await attempt({
      endpoints: [`http://${etcdTlsConnection.host}:${etcdTlsConnection.port}`],
    })
    expect(isSwitchyardError(error, 'TlsError')).toBe(true)
    expect((error as { problem: TlsProblem }).problem).toBe('server-requires-tls')
    expect((error as Error).message).toMatch(
      /^TLS to etcd at http:\/\/127\.0\.0\.1:\d+ failed: .*turn TLS on/,
    )
    expect(ms).toBeLessThan(5_000)
  })

  it('still reports a plaintext endpoint where nothing listens as unavailable (not a TLS problem)', async () => {
    const { error, ms } = await attempt({ endpoints: ['http://127.0.0.1:1'] })
    expect(isSwitchyardError(error, 'BrokerUnavailableError')).toBe(true)
    expect(ms).toBeLessThan(5_000)
  })
})
