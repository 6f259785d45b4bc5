/**
 * The node-redis clients of the transport: how one is made (RESP2, no reconnect of its own, no
 * offline queue: the core retries `connect()` and a command during an outage fails at once), the
 * Buffer reply mapping for stream reads, and how client errors become Switchyard errors.
 */
import { createConnection } from 'node:net'
import {
  AuthenticationError,
  BrokerUnavailableError,
  isSwitchyardError,
  PublishError,
  type SwitchyardError,
  speaksTls,
  TlsError,
  tlsFailure,
} from '@switchyard/core/spi'
import { createClient, ErrorReply, RESP_TYPES } from 'redis'
import type { ResolvedRedisOptions } from './options.js'

export const kind = 'redis'

/** A connected client of the transport. */
export const newClient = (options: ResolvedRedisOptions) =>
  createClient({
    url: options.url,
    ...(options.username === undefined ? {} : { username: options.username }),
    ...(options.password === undefined ? {} : { password: options.password }),
    // RESP2: the driver parses stream replies itself, and they have one shape on client v5 and v6.
    RESP: 2,
    disableOfflineQueue: true,
    socket: {
      connectTimeout: options.connectTimeoutMs,
      reconnectStrategy: false,
      ...(options.tls === undefined ? {} : { ...options.tls, tls: true as const }),
    },
  })

export type Client = ReturnType<typeof newClient>

/** Stream replies with bulk strings as Buffers (payloads stay bytes). */
export const bufferReplies = { typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer } } as const

/** The server's error code (`NOGROUP`, `BUSYGROUP`, `WRONGPASS` …) when `error` is a Redis error reply. */
export const replyCode = (error: unknown): string | undefined =>
  error instanceof ErrorReply ? /^[A-Z]+/.exec(error.message)?.[0] : undefined

const authCodes = new Set(['WRONGPASS', 'NOAUTH', 'NOPERM'])

/** A failed connection attempt: `AuthenticationError` for refused credentials, else retryable. */
export const connectError = (error: unknown, endpoint: string): SwitchyardError => {
  if (isSwitchyardError(error)) return error
  const message = error instanceof Error ? error.message : String(error)
  const code = replyCode(error)
  if (code !== undefined && authCodes.has(code))
    return new AuthenticationError(kind, message, { cause: error })
  return new BrokerUnavailableError(kind, endpoint, message, { cause: error })
}

/**
 * A failed connection attempt, TLS included: a handshake problem is a `TlsError` saying what to fix;
 * a plaintext client that a TLS-only port dropped is found by one TLS handshake to that port
 * (`server-requires-tls`). Anything else as {@link connectError}.
 */
export const connectFailure = async (
  error: unknown,
  endpoint: string,
  options: ResolvedRedisOptions,
): Promise<SwitchyardError> => {
  const server = serverOf(options)
  const tls = tlsFailure(kind, server.at, error)
  if (tls !== undefined) return tls
  const refused = connectError(error, endpoint)
  if (isSwitchyardError(refused, 'AuthenticationError')) return refused
  if (options.tls === undefined && (await speaksTls(server.host, server.port, 2000))) {
    return new TlsError(kind, server.at, 'server-requires-tls', { cause: error })
  }
  return refused
}

/** Host and port of the URL (brackets of an IPv6 address removed), and `host:port` for errors. */
const serverOf = (options: ResolvedRedisOptions) => {
  const { hostname, port, host } = new URL(options.url)
  return { host: hostname.replace(/^\[|\]$/g, ''), port: Number(port || 6379), at: host }
}

/**
 * For a TLS connection attempt: rejects with a `not-a-tls-server` `TlsError` as soon as the port
 * answers a plaintext `PING` (a plaintext Redis never answers a TLS hello: it waits for the end of
 * an inline command, so the attempt would only time out); otherwise never settles. One extra
 * short connection; race it with an attempt until one has connected over TLS.
 */
export const plaintextPortCheck = async (options: ResolvedRedisOptions): Promise<never> => {
  const server = serverOf(options)
  if (await answersPlaintextPing(server.host, server.port, options.connectTimeoutMs)) {
    throw new TlsError(kind, server.at, 'not-a-tls-server')
  }
  return new Promise<never>(() => {})
}

/** Whether `host:port` answers a plaintext `PING` as Redis does (`+PONG`, or an error such as `-NOAUTH`). */
const answersPlaintextPing = (host: string, port: number, timeoutMs: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = createConnection({ host, port })
    const done = (answer: boolean): void => {
      clearTimeout(timer)
      socket.destroy()
      resolve(answer)
    }
    const timer = setTimeout(() => done(false), timeoutMs)
    socket.once('connect', () => socket.write('PING\r\n'))
    socket.once('data', (data: Buffer) => done(/^[+-]/.test(data.toString('latin1', 0, 1))))
    socket.once('error', () => done(false))
    socket.once('close', () => done(false))
  })

/** A failed publish: a server refusal (OOM, wrong type) is a `PublishError`; a lost connection is retryable. */
export const publishError = (error: unknown, topic: string, endpoint: string): SwitchyardError => {
  if (isSwitchyardError(error)) return error
  const code = replyCode(error)
  if (code === undefined) return connectError(error, endpoint)
  const retryable = code === 'OOM' || code === 'LOADING' || code === 'BUSY' || code === 'TRYAGAIN'
  return new PublishError(topic, (error as Error).message, { cause: error, retryable })
}

/** Reads `[name, value, name, value …]` (XINFO, INFO-like replies) into an object. */
export const pairs = (flat: readonly unknown[]): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (let i = 0; i + 1 < flat.length; i += 2) out[String(flat[i])] = flat[i + 1]
  return out
}
