/**
 * The one place where amqplib and socket errors become Switchyard's typed errors.
 *
 * amqplib reports broker refusals as plain `Error`s with an AMQP reply `code` (403 ACCESS_REFUSED,
 * 404 NOT_FOUND, 406 PRECONDITION_FAILED, 320 CONNECTION_FORCED, …) or only as message text during
 * the handshake, and socket failures as Node system errors (`ECONNREFUSED`, …). This module reads
 * those and nothing else; it never retries or logs.
 */
import {
  AuthenticationError,
  BrokerUnavailableError,
  ConfigError,
  isSwitchyardError,
  PublishError,
  type SwitchyardError,
  speaksTls,
  TlsError,
  tlsFailure,
} from '@switchyard/core/spi'

const kind = 'rabbitmq'

interface AmqpErrorShape {
  readonly code?: unknown
  readonly message?: unknown
  readonly name?: unknown
}

function shape(error: unknown): AmqpErrorShape {
  return typeof error === 'object' && error !== null ? (error as AmqpErrorShape) : {}
}

function text(error: unknown): string {
  const message = shape(error).message
  return typeof message === 'string' ? message : String(error)
}

/** True when the broker refused the login or the vhost: retrying with the same settings cannot help. */
export function isAuthFailure(error: unknown): boolean {
  const { code } = shape(error)
  const message = text(error)
  return (
    code === 403 ||
    code === 530 ||
    /ACCESS[-_]REFUSED|NOT[-_]ALLOWED|Login was refused/i.test(message) ||
    // A wrong vhost closes the connection during the handshake, reported only as this text.
    /Expected ConnectionOpenOk; got <ConnectionClose/.test(message)
  )
}

/** Maps a failure to connect (or a lost connection) onto `AuthenticationError` or `BrokerUnavailableError`. */
export function connectionError(error: unknown, endpoint: string): SwitchyardError {
  if (isSwitchyardError(error)) return error
  if (isAuthFailure(error)) {
    const detail = /Expected ConnectionOpenOk/.test(text(error))
      ? `the vhost does not exist or the user may not use it (${endpoint})`
      : `login refused at ${endpoint}`
    return new AuthenticationError(kind, detail, { cause: error })
  }
  return new BrokerUnavailableError(kind, endpoint, describe(error), { cause: error })
}

/**
 * A `TlsError` when a failed connection attempt to `node` was a TLS problem: a refused handshake
 * (untrusted or misnamed server certificate, a client certificate the server refused, a plaintext
 * port under `amqps`), or a plain `amqp` client that the node dropped because that port speaks only
 * TLS (asked with one TLS handshake, only after a non-auth failure). `undefined` otherwise.
 */
export async function tlsConnectError(
  error: unknown,
  protocol: 'amqp' | 'amqps',
  node: { readonly host: string; readonly port: number },
): Promise<TlsError | undefined> {
  const endpoint = `${node.host}:${node.port}`
  const tls = tlsFailure(kind, endpoint, error)
  if (tls !== undefined) return tls
  if (protocol === 'amqp' && !isAuthFailure(error) && (await speaksTls(node.host, node.port, 2000))) {
    return new TlsError(kind, endpoint, 'server-requires-tls', { cause: error })
  }
  return undefined
}

/** A short, credential-free description of a driver error. */
export function describe(error: unknown): string {
  const { code } = shape(error)
  const message = text(error).split('\n')[0] ?? ''
  return typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message
}

/** Maps a failed queue or exchange declaration. */
export function topologyError(error: unknown, what: string, endpoint: string): SwitchyardError {
  if (isSwitchyardError(error)) return error
  const { code } = shape(error)
  if (code === 406 || /PRECONDITION_FAILED/.test(text(error))) {
    return new ConfigError(
      `RabbitMQ topology for ${what}`,
      [
        `the broker refused the declaration (${describe(error)}); the queue or exchange exists with other arguments — ` +
          'delete it, or use the same queue options (queueDefaults, groups, ordered) everywhere it is declared',
      ],
      { cause: error, context: { transport: kind } },
    )
  }
  if (code === 403 || /ACCESS_REFUSED/.test(text(error))) {
    return new AuthenticationError(kind, `the user may not declare ${what}: ${describe(error)}`, {
      cause: error,
    })
  }
  return new BrokerUnavailableError(kind, endpoint, `declaring ${what} failed: ${describe(error)}`, {
    cause: error,
  })
}

/** The broker nacked a published message. */
export function nackedError(topic: string): PublishError {
  return new PublishError(
    topic,
    'the broker nacked it (a queue rejected it, e.g. reject-publish overflow, or an internal error)',
  )
}

/** A `mandatory` message no queue was bound for. */
export function unroutableError(topic: string, replyText: string): PublishError {
  return new PublishError(
    topic,
    `no queue is bound for it (${replyText}); subscribe or provision a group for the topic first, or publish without \`mandatory\``,
    { retryable: false, context: { reason: 'unroutable' } },
  )
}

/** A publish that could not be handed to amqplib (e.g. an encoding limit). */
export function encodeError(topic: string, error: unknown): PublishError {
  return new PublishError(topic, `amqplib could not encode it: ${describe(error)}`, {
    retryable: false,
    cause: error,
  })
}
