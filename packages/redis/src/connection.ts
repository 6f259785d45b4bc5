/**
 * The node-redis clients of the transport: how one is made (RESP2, no reconnect of its own, no
 * offline queue: the core retries `connect()` and a command during an outage fails at once), the
 * Buffer reply mapping for stream reads, and how client errors become Switchyard errors.
 */
import {
  AuthenticationError,
  BrokerUnavailableError,
  isSwitchyardError,
  PublishError,
  type SwitchyardError,
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
    socket: { connectTimeout: options.connectTimeoutMs, reconnectStrategy: false },
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
