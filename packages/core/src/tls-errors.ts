/**
 * `tlsFailure`: recognises a failed TLS handshake in what a client library threw (Node's `tls`
 * errors, OpenSSL alerts, gRPC and amqplib wrappers of them) and turns it into a `TlsError` that
 * says what is wrong, so every adapter reports TLS mistakes the same way. For adapter authors
 * (exported from `@switchyard/core/spi`).
 */
import { TlsError, type TlsProblem } from './errors.js'

const patterns: readonly (readonly [TlsProblem, RegExp])[] = [
  ['key-mismatch', /key values mismatch|KEY_VALUES_MISMATCH/i],
  ['expired-server-certificate', /CERT_HAS_EXPIRED|certificate has expired|CERT_NOT_YET_VALID/i],
  [
    'server-name-mismatch',
    /ERR_TLS_CERT_ALTNAME_INVALID|does not match certificate's altnames|Hostname\/IP does not match/i,
  ],
  [
    'untrusted-server-certificate',
    /unable to verify the first certificate|UNABLE_TO_VERIFY_LEAF_SIGNATURE|self[- ]signed certificate|unable to get local issuer certificate|UNABLE_TO_GET_ISSUER_CERT/i,
  ],
  [
    'client-certificate-refused',
    /alert (bad certificate|certificate required|unknown ca|certificate expired|certificate unknown|handshake failure)|alert number (42|45|46|48|116)\b/i,
  ],
  [
    'not-a-tls-server',
    /socket disconnected before secure TLS connection|wrong version number|packet length too long|ERR_SSL_WRONG_VERSION_NUMBER/i,
  ],
]

/** Every message and code in `error` and its causes (libraries nest the TLS error). */
function texts(error: unknown): string {
  const seen = new Set<unknown>()
  const parts: string[] = []
  let current: unknown = error
  while (current !== undefined && current !== null && !seen.has(current) && parts.length < 10) {
    seen.add(current)
    if (current instanceof Error) {
      parts.push(current.message)
      const code = (current as { code?: unknown }).code
      if (typeof code === 'string') parts.push(code)
      current = (current as { cause?: unknown }).cause
    } else {
      parts.push(String(current))
      break
    }
  }
  return parts.join('\n')
}

/**
 * A `TlsError` when `error` (or one of its causes) is a TLS handshake failure, else `undefined`.
 *
 * @example
 * catch (error) { throw tlsFailure('rabbitmq', endpoint, error) ?? new BrokerUnavailableError(...) }
 */
export function tlsFailure(transport: string, endpoint: string, error: unknown): TlsError | undefined {
  const text = texts(error)
  for (const [problem, pattern] of patterns) {
    if (pattern.test(text)) return new TlsError(transport, endpoint, problem, { cause: error })
  }
  return undefined
}
