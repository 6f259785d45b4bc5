/**
 * `tlsRefusalContract`: every way of getting TLS wrong against a real server, as vitest tests — an
 * untrusted or misnamed server certificate, no client certificate, one from another CA, an expired
 * one, a key that does not belong to it, TLS against a plaintext port and plaintext against a TLS
 * port. Each must fail `connect()` with a `TlsError` of the right `problem`, not retryable, whose
 * message says what to do, within 5 s.
 */
import type { ConnectionOptions } from 'node:tls'
import { isSwitchyardError, type TlsProblem, type Transport } from '@switchyard/core'
import { describe, expect, it } from 'vitest'
import { connectOutcome } from './secret-scan.js'

/** PEM material of a test PKI (Buffers or strings, as Node's `tls` takes them). */
export interface TlsMaterial {
  /** The CA that signed the server's certificate and the good client certificate. */
  readonly ca: Buffer | string
  readonly cert: Buffer | string
  readonly key: Buffer | string
  /** A CA the server does not trust, with a client certificate and key of its own. */
  readonly otherCa: Buffer | string
  readonly otherCert: Buffer | string
  readonly otherKey: Buffer | string
  /** A client certificate of the right CA that has expired, and its key. */
  readonly expiredCert: Buffer | string
  readonly expiredKey: Buffer | string
}

/** Options of {@link tlsRefusalContract}. */
export interface TlsRefusalOptions {
  /** The transport kind as error messages name it (`redis`, `nats`, `rabbitmq`). */
  readonly kind: string
  readonly material: () => TlsMaterial
  /**
   * A transport with the right credentials to the server's TLS port or its plaintext port, with
   * `tls` as its TLS options (`undefined`: a plaintext client).
   */
  readonly make: (port: 'tls' | 'plaintext', tls: ConnectionOptions | undefined) => Transport
}

type Case = readonly [
  string,
  'tls' | 'plaintext',
  (m: TlsMaterial) => ConnectionOptions | undefined,
  TlsProblem,
]

const good = (m: TlsMaterial): ConnectionOptions => ({ ca: m.ca, cert: m.cert, key: m.key })

const cases: readonly Case[] = [
  [
    'a server certificate from a CA the client does not trust',
    'tls',
    (m) => ({ ...good(m), ca: m.otherCa }),
    'untrusted-server-certificate',
  ],
  [
    'a server name the certificate is not issued for',
    'tls',
    (m) => ({ ...good(m), servername: 'broker.example' }),
    'server-name-mismatch',
  ],
  ['no client certificate', 'tls', (m) => ({ ca: m.ca }), 'client-certificate-refused'],
  [
    'a client certificate from another CA',
    'tls',
    (m) => ({ ca: m.ca, cert: m.otherCert, key: m.otherKey }),
    'client-certificate-refused',
  ],
  [
    'an expired client certificate',
    'tls',
    (m) => ({ ca: m.ca, cert: m.expiredCert, key: m.expiredKey }),
    'client-certificate-refused',
  ],
  [
    'a private key that does not belong to the client certificate',
    'tls',
    (m) => ({ ...good(m), key: m.otherKey }),
    'key-mismatch',
  ],
  ['a TLS client against the plaintext port', 'plaintext', good, 'not-a-tls-server'],
  ['a plaintext client against the TLS port', 'tls', () => undefined, 'server-requires-tls'],
]

/**
 * Registers one test per wrong TLS setting (see the module comment) under `describe(name)`.
 *
 * @example
 * tlsRefusalContract('redis: wrong TLS settings', {
 *   kind: 'redis',
 *   material: () => material,
 *   make: (port, tls) => new RedisTransport({ url: port === 'tls' ? tlsUrl : url, ...(tls && { tls }) }),
 * })
 */
export function tlsRefusalContract(name: string, options: TlsRefusalOptions): void {
  describe(name, () => {
    it.each(cases)('refuses %s with a TlsError that says what to do', async (_, port, tls, problem) => {
      const { error, ms } = await connectOutcome(() => options.make(port, tls(options.material())))
      expect(isSwitchyardError(error, 'TlsError'), String(error)).toBe(true)
      expect((error as { problem: TlsProblem }).problem).toBe(problem)
      expect((error as Error).message).toMatch(new RegExp(`^TLS to ${options.kind} at \\S+ failed: .+: .+`))
      expect((error as { retryable: boolean }).retryable).toBe(false)
      expect(ms).toBeLessThan(5_000)
    })
  })
}
