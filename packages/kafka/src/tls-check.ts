/**
 * `checkTls`: one TLS handshake with each broker before a driver connects, so TLS mistakes become a
 * `TlsError` within a second or two on both clients. Without it, kafkajs and `@platformatic/kafka`
 * treat a refused handshake (or a TLS listener dropping a plaintext client) as a lost connection
 * and retry it for their whole retry budget, ending in a `BrokerUnavailableError` that hides the cause.
 *
 * With `ssl` set, the handshake uses the transport's own TLS options (CA, client certificate, key,
 * `servername`), the same ones the clients use. Without `ssl`, it asks whether the broker port
 * speaks TLS (`speaksTls`): if it does, this client would only ever be dropped. That question is
 * asked once per transport (a plaintext broker may log the unexpected handshake bytes at WARN), not
 * on every reconnect. Skipped with a custom `socketFactory` (the transport cannot know how those
 * sockets reach the broker).
 */
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

/** Resolves when the handshake with `broker` succeeds (or gets no answer: that is not a TLS verdict). */
function handshake(broker: string, ssl: ConnectionOptions, timeoutMs: number): Promise<void> {
  const { host, port } = split(broker)
  return new Promise((resolve, reject) => {
    let socket: ReturnType<typeof connect>
    try {
      socket = connect({ host, port, ...(isIP(host) === 0 ? { servername: host } : {}), ...ssl })
    } catch (error) {
      // Node refuses unusable material before connecting (a key that does not fit the certificate).
      reject(tlsFailure(transport, broker, error) ?? error)
      return
    }
    const done = (error?: unknown): void => {
      clearTimeout(timer)
      socket.destroy()
      const tls = error === undefined ? undefined : tlsFailure(transport, broker, error)
      if (tls === undefined) resolve()
      else reject(tls)
    }
    const timer = setTimeout(() => done(), timeoutMs)
    timer.unref?.()
    socket.once('secureConnect', () => done())
    socket.once('error', (error) => done(error))
  })
}

/**
 * Throws a `TlsError` when a broker's TLS does not fit the options: an untrusted or misnamed server
 * certificate, unusable client material, a plaintext port under `ssl`, or a TLS port without it.
 * Anything else (an unreachable broker, a timeout) is left to the driver's own connect.
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
