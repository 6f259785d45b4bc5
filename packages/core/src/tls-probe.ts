/**
 * `speaksTls`: asks an endpoint whether it answers a TLS handshake, so an adapter whose plaintext
 * connection was dropped without a word can tell "this port wants TLS" (a `TlsError`) from "the
 * broker is down" (retryable). For adapter authors (exported from `@switchyard/core/spi`).
 */
import { isIP } from 'node:net'
import { connect } from 'node:tls'

/**
 * Resolves `true` when `host:port` completes (or starts answering) a TLS handshake within
 * `timeoutMs`, else `false` (refused, plaintext, silent). Never rejects. The server certificate is
 * not checked: this only asks which protocol the port speaks, and sends nothing else.
 */
export function speaksTls(host: string, port: number, timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    let settled = false
    const socket = connect({
      host,
      port,
      rejectUnauthorized: false,
      ...(isIP(host) === 0 ? { servername: host } : {}),
    })
    const done = (answer: boolean): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      resolve(answer)
    }
    const timer = setTimeout(() => done(false), timeoutMs)
    timer.unref?.()
    socket.once('secureConnect', () => done(true))
    // A server that asks for a client certificate may refuse us with an alert: that is still TLS.
    socket.once('error', (error: Error & { code?: string }) =>
      done(/alert|ERR_SSL_TLSV1?3?_ALERT|certificate/i.test(`${error.code ?? ''} ${error.message}`)),
    )
  })
}
