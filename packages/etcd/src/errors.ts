/**
 * The one place that maps etcd3 (gRPC) errors onto Switchyard's typed errors.
 *
 * Authentication and permission failures become `AuthenticationError`; unreachable, timed-out or
 * broken connections become `BrokerUnavailableError` (retryable); a closed client becomes
 * `TransportClosedError`. Messages never contain values or credentials.
 */
import './long-support.js'
import { createConnection } from 'node:net'
import {
  AuthenticationError,
  BrokerUnavailableError,
  isSwitchyardError,
  type SwitchyardError,
  TransportClosedError,
} from '@switchyard/core'
import { speaksTls, TlsError, tlsFailure } from '@switchyard/core/spi'
import {
  ClientClosedError,
  EtcdAuthenticationFailedError,
  EtcdInvalidAuthTokenError,
  EtcdPermissionDeniedError,
  GRPCOutOfRangeError,
  GRPCUnauthenticatedError,
} from 'etcd3'

const TRANSPORT = 'etcd'

/** Maps anything thrown by etcd3 during `operation` to a Switchyard error. */
export function mapEtcdError(error: unknown, operation: string, endpoint: string): SwitchyardError {
  if (isSwitchyardError(error)) return error
  const tls = tlsFailure(TRANSPORT, endpoint, error)
  if (tls !== undefined) return tls
  const context = { operation }
  if (
    error instanceof EtcdAuthenticationFailedError ||
    error instanceof EtcdInvalidAuthTokenError ||
    error instanceof EtcdPermissionDeniedError ||
    error instanceof GRPCUnauthenticatedError
  ) {
    return new AuthenticationError(TRANSPORT, `${(error as Error).message} (during ${operation})`, {
      cause: error,
      context,
    })
  }
  const text = error instanceof Error ? error.message : String(error)
  if (/user name is empty|authentication failed|invalid auth token|permission denied/i.test(text)) {
    return new AuthenticationError(TRANSPORT, `${text} (during ${operation})`, { cause: error, context })
  }
  if (error instanceof ClientClosedError) {
    return new TransportClosedError(operation, { cause: error, context: { transport: TRANSPORT } })
  }
  const message = error instanceof Error ? error.message : String(error)
  return new BrokerUnavailableError(TRANSPORT, endpoint, `${operation} failed: ${message}`, {
    cause: error,
    context,
  })
}

/**
 * True when etcd (or gRPC in front of it) refused a request for its size: `etcdserver: request is
 * too large` over `--max-request-bytes`, or gRPC's RESOURCE_EXHAUSTED for a message over its limit.
 */
export function isRequestTooLarge(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error)
  return /request is too large|larger than max|RESOURCE_EXHAUSTED/i.test(message)
}

/** True when etcd says a revision was compacted away (history and watches cannot reach it). */
export function isCompacted(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error)
  return error instanceof GRPCOutOfRangeError || /compacted/i.test(message)
}

/** Resolves `promise`, or rejects with `BrokerUnavailableError` after `ms`; maps etcd3 errors. */
export async function bounded<T>(
  promise: Promise<T>,
  ms: number,
  operation: string,
  endpoint: string,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(new BrokerUnavailableError(TRANSPORT, endpoint, `${operation} got no answer within ${ms} ms`)),
      ms,
    )
  })
  try {
    return await Promise.race([promise, timeout])
  } catch (error) {
    const mapped = mapEtcdError(error, operation, endpoint)
    throw isSwitchyardError(mapped, 'BrokerUnavailableError')
      ? ((await tlsMismatch(endpoint)) ?? mapped)
      : mapped
  } finally {
    clearTimeout(timer)
    promise.catch(() => undefined)
  }
}

/**
 * gRPC reports a plaintext (`http://`) client dropped by a TLS-only etcd as "failed to connect", like
 * an outage; and a TLS (`https://`) client whose hello a plaintext etcd answers by resetting the
 * connection (seen on Node 24, instead of the usual "disconnected before secure TLS connection") the
 * same way. Asked after such a failure: a `TlsError` when a plaintext endpoint answers a TLS handshake
 * (`server-requires-tls`), or a TLS endpoint accepts connections but does not answer one
 * (`not-a-tls-server`); else `undefined` (an outage).
 */
async function tlsMismatch(endpoints: string): Promise<TlsError | undefined> {
  const urls = endpoints
    .split(',')
    .map((e) => (URL.canParse(e.trim()) ? new URL(e.trim()) : undefined))
    .filter((url): url is URL => url?.protocol === 'http:' || url?.protocol === 'https:')
  for (const url of urls) {
    const host = url.hostname.replace(/^\[|\]$/g, '')
    const port = Number(url.port || 2379)
    const tls = await speaksTls(host, port, 1000)
    if (url.protocol === 'http:' && tls) return new TlsError(TRANSPORT, url.origin, 'server-requires-tls')
    if (url.protocol === 'https:' && !tls && (await acceptsConnections(host, port, 1000))) {
      return new TlsError(TRANSPORT, url.origin, 'not-a-tls-server')
    }
  }
  return undefined
}

/** Whether `host:port` accepts a TCP connection within `timeoutMs` (nothing is sent). */
function acceptsConnections(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port })
    const done = (answer: boolean): void => {
      clearTimeout(timer)
      socket.destroy()
      resolve(answer)
    }
    const timer = setTimeout(() => done(false), timeoutMs)
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}
