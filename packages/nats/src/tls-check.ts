/**
 * `tlsConnectError`: tells a TLS problem from an unreachable server when a connection attempt of
 * the NATS transport failed, so that it is a `TlsError` saying what to fix (not retried) instead
 * of a retried `BrokerUnavailableError`.
 *
 * A NATS server sends its `INFO` in plaintext and the client starts TLS after it. Under TLS 1.3
 * the server judges the client certificate only after the client's side of the handshake is done,
 * and the client library then sees a reset connection rather than the server's alert; so a reset
 * under TLS is asked again with one handshake of our own that waits for the server's verdict.
 */
import { createConnection, isIP } from 'node:net'
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls'
import { TlsError, tlsFailure } from '@switchyard/core/spi'
import type { ResolvedNatsOptions } from './options.js'

const kind = 'nats'

/**
 * A `TlsError` when a failed connection attempt was a TLS problem: a handshake the client or the
 * server refused; TLS asked of a server without it (the client says "server does not support
 * 'tls'"); or a server that requires TLS, which the client then tried with the system's CAs because
 * `tls` was not set. `undefined` otherwise.
 */
export async function tlsConnectError(error: unknown, o: ResolvedNatsOptions): Promise<TlsError | undefined> {
  const endpoint = o.endpoint
  if (o.tls !== undefined && /server does not support 'tls'/.test(String(error))) {
    return new TlsError(kind, endpoint, 'not-a-tls-server', { cause: error })
  }
  const tls = tlsFailure(kind, endpoint, error)
  if (tls !== undefined) {
    return o.tls !== undefined ? tls : new TlsError(kind, endpoint, 'server-requires-tls', { cause: error })
  }
  if (o.tls === undefined || !/ECONNRESET|EPIPE/.test(String(error))) return undefined
  const server = o.servers[0] as string
  const [host, port] = server.replace(/^[a-z]+:\/\//, '').split(':') as [string, string | undefined]
  const verdict = await handshakeVerdict(
    host,
    Number(port ?? 4222),
    o.tls,
    Math.min(o.connectTimeoutMs, 2000),
  )
  return verdict === undefined ? undefined : tlsFailure(kind, endpoint, verdict)
}

/**
 * Reads the server's plaintext `INFO`, runs a TLS handshake with `tls` over the same socket and
 * waits for the server to refuse it: the error it raised, or `undefined` when it did not within
 * `timeoutMs` (the server then waits for `CONNECT`: the certificate was accepted). Sends nothing else.
 */
function handshakeVerdict(
  host: string,
  port: number,
  tls: ConnectionOptions,
  timeoutMs: number,
): Promise<Error | undefined> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port })
    let secure: ReturnType<typeof tlsConnect> | undefined
    const done = (verdict: Error | undefined): void => {
      clearTimeout(timer)
      secure?.destroy()
      socket.destroy()
      resolve(verdict)
    }
    const timer = setTimeout(() => done(undefined), timeoutMs)
    socket.once('error', () => done(undefined))
    socket.once('data', () => {
      secure = tlsConnect({
        ...tls,
        socket,
        ...(tls.servername === undefined && isIP(host) === 0 ? { servername: host } : {}),
      })
      secure.once('error', (error) => done(error))
      secure.once('close', () => done(undefined))
    })
  })
}
