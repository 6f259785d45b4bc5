/**
 * `checkTls`: one TLS handshake with each broker before a driver connects, so TLS mistakes become a
 * `TlsError` within a second or two on both clients. Without it, kafkajs and `@platformatic/kafka`
 * treat a refused handshake (or a TLS listener dropping a plaintext client) as a lost connection
 * and retry it for their whole retry budget, ending in a `BrokerUnavailableError` that hides the cause.
 *
 * With `ssl` set, the handshake uses the transport's own TLS options (CA, client certificate, key,
 * `servername`), the same ones the clients use, and then sends one Kafka `ApiVersions` request (the
 * request every broker answers before authentication) and waits for the first byte of the answer.
 * That round trip matters for a listener with `ssl.client.auth=required`: under TLS 1.3 the client
 * finishes its side of the handshake before the broker has checked the client certificate, so the
 * broker's refusal (a `bad_certificate` or `certificate_unknown` alert) only arrives afterwards. The
 * alert says neither which certificate nor why, so the refusal's message adds what this client can
 * see of its own certificate: none given, expired (or not valid yet), or valid — then the broker
 * does not trust its issuer (`context.clientCertificate`: `missing`, `expired`, `not-yet-valid`,
 * `untrusted-issuer`).
 *
 * Without `ssl`, it asks whether the broker port speaks TLS (`speaksTls`): if it does, this client
 * would only ever be dropped. That question is asked once per transport (a plaintext broker may log
 * the unexpected handshake bytes at WARN), not on every reconnect. Skipped with a custom
 * `socketFactory` (the transport cannot know how those sockets reach the broker).
 */
import { X509Certificate } from 'node:crypto'
import { isIP } from 'node:net'
import { type ConnectionOptions, connect } from 'node:tls'
import { speaksTls, TlsError, tlsFailure } from '@switchyard/core/spi'
import type { ResolvedKafkaOptions } from './options.js'

const transport = 'kafka'

/** Transports (by their resolved options) whose plaintext brokers were found not to speak TLS. */
const plaintextChecked = new WeakSet<ResolvedKafkaOptions>()

const split = (broker: string): { host: string; port: number } => {
  const at = broker.lastIndexOf(':')
  return { host: broker.slice(0, at), port: Number(broker.slice(at + 1)) }
}

/** ApiVersions v0 (API key 18), correlation id 1: size, header v1 (key, version, id, client id), no body. */
const apiVersionsRequest = (): Buffer => {
  const clientId = Buffer.from('switchyard-tls-check')
  const frame = Buffer.alloc(4 + 10 + clientId.length)
  frame.writeInt32BE(frame.length - 4, 0)
  frame.writeInt16BE(18, 4)
  frame.writeInt16BE(0, 6)
  frame.writeInt32BE(1, 8)
  frame.writeInt16BE(clientId.length, 12)
  clientId.copy(frame, 14)
  return frame
}

/** What this client can tell about its own certificate when the broker refused it. */
export type ClientCertificateFinding = 'missing' | 'expired' | 'not-yet-valid' | 'untrusted-issuer'

/**
 * Reads the client certificate of `ssl` (the first in `cert`, the leaf) to say why a broker may have
 * refused it. With a `pfx` only, the certificate is not read (`untrusted-issuer` with a neutral text).
 */
export function clientCertificateFinding(
  ssl: ConnectionOptions,
  now: number = Date.now(),
): { readonly finding: ClientCertificateFinding; readonly detail: string } {
  const first = Array.isArray(ssl.cert) ? ssl.cert[0] : ssl.cert
  if (first === undefined && ssl.pfx === undefined) {
    return {
      finding: 'missing',
      detail: 'This client sent no certificate: set ssl.cert and ssl.key (the broker requires one).',
    }
  }
  let certificate: X509Certificate | undefined
  try {
    certificate = first === undefined ? undefined : new X509Certificate(first)
  } catch {
    certificate = undefined
  }
  if (certificate === undefined) {
    return {
      finding: 'untrusted-issuer',
      detail:
        'The broker did not accept the client certificate: is the CA that issued it in its trust store?',
    }
  }
  const from = new Date(certificate.validFrom)
  const to = new Date(certificate.validTo)
  if (to.getTime() < now) {
    return {
      finding: 'expired',
      detail: `The client certificate (subject ${certificate.subject.replaceAll('\n', ', ')}) expired on ${to.toISOString()}: renew it.`,
    }
  }
  if (from.getTime() > now) {
    return {
      finding: 'not-yet-valid',
      detail: `The client certificate (subject ${certificate.subject.replaceAll('\n', ', ')}) is valid only from ${from.toISOString()}.`,
    }
  }
  return {
    finding: 'untrusted-issuer',
    detail:
      `The client certificate is within its validity dates, so the broker most likely does not trust its issuer ` +
      `(${certificate.issuer.replaceAll('\n', ', ')}): sign it with a CA in the broker's trust store (ssl.truststore).`,
  }
}

/** The `TlsError` of `error` met at `broker`, with the client certificate's finding when it was refused. */
function tlsError(broker: string, ssl: ConnectionOptions, error: unknown): TlsError | undefined {
  const tls = tlsFailure(transport, broker, error)
  if (tls?.problem !== 'client-certificate-refused') return tls
  const { finding, detail } = clientCertificateFinding(ssl)
  const refused = new TlsError(transport, broker, 'client-certificate-refused', {
    cause: error,
    context: { operation: 'connect', clientCertificate: finding },
  })
  refused.message = `${refused.message} ${detail}`
  return refused
}

/**
 * Resolves when the broker answers a request over TLS (or gives no answer: that is not a TLS
 * verdict, and the driver's own connect reports it); rejects with a `TlsError` on a TLS failure.
 */
function handshake(broker: string, ssl: ConnectionOptions, timeoutMs: number): Promise<void> {
  const { host, port } = split(broker)
  return new Promise((resolve, reject) => {
    let socket: ReturnType<typeof connect>
    try {
      socket = connect({ host, port, ...(isIP(host) === 0 ? { servername: host } : {}), ...ssl })
    } catch (error) {
      // Node refuses unusable material before connecting (a key that does not fit the certificate).
      reject(tlsError(broker, ssl, error) ?? error)
      return
    }
    let settled = false
    const done = (error?: unknown): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      const tls = error === undefined ? undefined : tlsError(broker, ssl, error)
      if (tls === undefined) resolve()
      else reject(tls)
    }
    const timer = setTimeout(() => done(), timeoutMs)
    timer.unref?.()
    // The broker's verdict on a client certificate comes after `secureConnect` under TLS 1.3.
    socket.once('secureConnect', () => socket.write(apiVersionsRequest()))
    socket.once('data', () => done())
    socket.once('close', () => done())
    socket.once('error', (error) => done(error))
  })
}

/**
 * Throws a `TlsError` when a broker's TLS does not fit the options: an untrusted or misnamed server
 * certificate, unusable or refused client material, a plaintext port under `ssl`, or a TLS port
 * without it. Anything else (an unreachable broker, a timeout) is left to the driver's own connect.
 */
export async function checkTls(options: ResolvedKafkaOptions): Promise<void> {
  if (options.socketFactory !== undefined) return
  const timeoutMs = Math.min(options.connectionTimeoutMs, 5000)
  if (options.ssl === undefined || options.ssl === false) {
    if (plaintextChecked.has(options)) return
    const tls = await Promise.all(
      options.brokers.map((b) => speaksTls(split(b).host, split(b).port, timeoutMs)),
    )
    const at = tls.indexOf(true)
    if (at >= 0) {
      throw new TlsError(transport, options.brokers[at] as string, 'server-requires-tls', {
        context: { operation: 'connect' },
      })
    }
    if (tls.length > 0) plaintextChecked.add(options)
    return
  }
  const ssl = options.ssl === true ? {} : options.ssl
  await Promise.all(options.brokers.map((broker) => handshake(broker, ssl, timeoutMs)))
}
