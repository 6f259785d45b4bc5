/**
 * Typed errors: one class per failure mode a Switchyard user can meet.
 *
 * Every class sets `name` to a string literal (bundlers rename classes, so `constructor.name` is
 * not reliable), keeps the underlying driver error in `cause`, carries context (`transport`,
 * `topic`, `operation`, …) and has a message that says what to do next. Guard with
 * {@link isSwitchyardError}, which checks a brand as well as `instanceof`, so errors keep their
 * identity across duplicated copies of this package.
 *
 * Adapters map driver errors onto these classes in one module each (`errors.ts` in the adapter);
 * they never throw a raw kafkajs / amqplib / etcd3 error at the user.
 *
 * This module is not a logger and never includes payloads or secrets in messages.
 */

const brand = Symbol.for('switchyard.error')

/** Context attached to an error; all fields optional, never secrets or payloads. */
export interface ErrorContext {
  readonly transport?: string
  readonly topic?: string
  readonly group?: string
  readonly operation?: string
  readonly key?: string
  readonly field?: string
  readonly [extra: string]: unknown
}

export interface SwitchyardErrorOptions {
  readonly cause?: unknown
  readonly context?: ErrorContext
}

/** Base class of every error Switchyard throws. */
export abstract class SwitchyardError extends Error {
  abstract override readonly name: string
  /** What the error is about; safe to log. */
  readonly context: ErrorContext
  /** True when trying the same operation again later may succeed (broker down, timeout, conflict). */
  readonly retryable: boolean = false
  readonly [brand] = true

  constructor(message: string, options: SwitchyardErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.context = options.context ?? {}
  }
}

/** The transport, subscription or store was closed; the operation cannot run on it any more. */
export class TransportClosedError extends SwitchyardError {
  override readonly name = 'TransportClosedError' as const
  constructor(operation: string, options: SwitchyardErrorOptions = {}) {
    super(
      `Cannot ${operation}: the ${options.context?.transport ?? ''} transport is closed. ` +
        'Create a new transport (closing is final), or stop calling it after close().',
      { ...options, context: { ...options.context, operation } },
    )
  }
}

/** A topic (or group) name is empty, too long, or has characters the transport cannot carry. */
export class InvalidTopicError extends SwitchyardError {
  override readonly name = 'InvalidTopicError' as const
  constructor(topic: string, reason: string, options: SwitchyardErrorOptions = {}) {
    super(
      `Invalid topic ${JSON.stringify(topic)}: ${reason}. Use 1-200 characters from [A-Za-z0-9._-] ` +
        '(and * or # wildcards only in subscriptions of a transport with the `patterns` capability).',
      { ...options, context: { ...options.context, topic } },
    )
  }
}

/** An unknown topic where the transport cannot create one (e.g. Kafka with topic creation disabled). */
export class UnknownTopicError extends SwitchyardError {
  override readonly name = 'UnknownTopicError' as const
  constructor(topic: string, options: SwitchyardErrorOptions = {}) {
    super(
      `Topic ${JSON.stringify(topic)} does not exist and could not be created. ` +
        'Create it on the broker, or allow the transport to create topics.',
      { ...options, context: { ...options.context, topic } },
    )
  }
}

/** A message is bigger than the broker accepts; nothing was published. */
export class MessageTooLargeError extends SwitchyardError {
  override readonly name = 'MessageTooLargeError' as const
  readonly sizeBytes: number
  readonly limitBytes: number
  constructor(topic: string, sizeBytes: number, limitBytes: number, options: SwitchyardErrorOptions = {}) {
    super(
      `Message for topic ${JSON.stringify(topic)} is ${sizeBytes} bytes, over the limit of ${limitBytes} bytes. ` +
        'Nothing was published. Store large payloads elsewhere and publish a reference, or raise the broker limit.',
      { ...options, context: { ...options.context, topic } },
    )
    this.sizeBytes = sizeBytes
    this.limitBytes = limitBytes
  }
}

/** A payload could not be decoded or failed schema validation. Such messages are dead-lettered. */
export class DecodeError extends SwitchyardError {
  override readonly name = 'DecodeError' as const
  readonly reason: string
  constructor(topic: string, reason: string, options: SwitchyardErrorOptions = {}) {
    super(
      `Cannot decode a message of topic ${JSON.stringify(topic)}: ${reason}. ` +
        'The message was sent to the dead-letter topic; fix the producer or the codec/schema.',
      { ...options, context: { ...options.context, topic } },
    )
    this.reason = reason
  }
}

/** A value could not be encoded by the codec (e.g. JSON with a cycle or a BigInt). Nothing was published. */
export class EncodeError extends SwitchyardError {
  override readonly name = 'EncodeError' as const
  constructor(topic: string, reason: string, options: SwitchyardErrorOptions = {}) {
    super(
      `Cannot encode a payload for topic ${JSON.stringify(topic)}: ${reason}. Nothing was published; ` +
        'pass a value the codec accepts or choose another codec.',
      { ...options, context: { ...options.context, topic } },
    )
  }
}

/** Options or a configuration document are invalid. `context.field` names the offending field. */
export class ConfigError extends SwitchyardError {
  override readonly name = 'ConfigError' as const
  readonly issues: readonly string[]
  constructor(what: string, issues: readonly string[], options: SwitchyardErrorOptions = {}) {
    const listed = issues.join('; ')
    // No full stop after an issue that already ends a sentence (`… did you mean "prefetch"?`).
    const stop = /[.?!]$/.test(listed) ? '' : '.'
    super(`Invalid ${what}: ${listed}${stop} Fix the ${what} and try again.`, options)
    this.issues = issues
  }
}

/** The broker (or etcd) cannot be reached or refused the connection. Retryable. */
export class BrokerUnavailableError extends SwitchyardError {
  override readonly name = 'BrokerUnavailableError' as const
  override readonly retryable = true
  constructor(transport: string, endpoint: string, detail: string, options: SwitchyardErrorOptions = {}) {
    super(
      `${transport} at ${endpoint} is unavailable: ${detail}. Check that the broker runs, that this ` +
        'address (host, port, TLS setting) is the one it listens on, and that the network lets you ' +
        'reach it; Switchyard keeps retrying where it can.',
      { ...options, context: { ...options.context, transport, endpoint } },
    )
  }
}

/** The broker refused credentials or permissions. Not retryable without a configuration change. */
export class AuthenticationError extends SwitchyardError {
  override readonly name = 'AuthenticationError' as const
  constructor(transport: string, detail: string, options: SwitchyardErrorOptions = {}) {
    super(`${transport} refused the credentials: ${detail}. Check user, password, vhost and permissions.`, {
      ...options,
      context: { ...options.context, transport },
    })
  }
}

/** What went wrong in a TLS handshake (see {@link TlsError}). */
export type TlsProblem =
  | 'untrusted-server-certificate'
  | 'expired-server-certificate'
  | 'server-name-mismatch'
  | 'client-certificate-refused'
  | 'not-a-tls-server'
  | 'server-requires-tls'
  | 'key-mismatch'

const tlsAdvice: Record<TlsProblem, string> = {
  'untrusted-server-certificate':
    "the server's certificate is not signed by a CA this client trusts: pass the CA that signed it (ca / rootCertificate)",
  'expired-server-certificate':
    "the server's certificate has expired (or is not valid yet): renew it on the server",
  'server-name-mismatch':
    "the server's certificate is not issued for the address you connect to: connect by a name in its subjectAltName, or reissue it",
  'client-certificate-refused':
    'the server refused this client: give a client certificate and key signed by a CA the server trusts, and not expired',
  'not-a-tls-server':
    'the server did not answer TLS: this port is probably plaintext; use the TLS port, or turn TLS off',
  'server-requires-tls':
    'the server speaks only TLS on this port and this client connected without it: turn TLS on (with the CA that signed the server certificate), or use the plaintext port',
  'key-mismatch':
    'the private key does not belong to the client certificate: pass the key the certificate was made for',
}

/**
 * A TLS connection could not be set up, for a reason a retry does not fix. `problem` says which;
 * the message says what to do. Not retryable.
 */
export class TlsError extends SwitchyardError {
  override readonly name = 'TlsError' as const
  constructor(
    transport: string,
    endpoint: string,
    readonly problem: TlsProblem,
    options: SwitchyardErrorOptions = {},
  ) {
    super(`TLS to ${transport} at ${endpoint} failed: ${tlsAdvice[problem]}.`, {
      ...options,
      context: { ...options.context, transport, endpoint, problem },
    })
  }
}

/** The broker did not accept a published message (nack, unroutable return, or a timeout waiting for it). */
export class PublishError extends SwitchyardError {
  override readonly name = 'PublishError' as const
  override readonly retryable: boolean
  constructor(topic: string, detail: string, options: SwitchyardErrorOptions & { retryable?: boolean } = {}) {
    super(
      `The broker did not accept a message for topic ${JSON.stringify(topic)}: ${detail}. ` +
        'It may not have been stored; publish it again (consumers must tolerate duplicates).',
      { ...options, context: { ...options.context, topic } },
    )
    this.retryable = options.retryable ?? true
  }
}

/**
 * `publish` found the transport's publish queue full and was asked not to wait
 * (`DeriveOptions.whenFull: 'reject'`). Nothing of this call was queued or sent. Retryable.
 */
export class BackpressureError extends SwitchyardError {
  override readonly name = 'BackpressureError' as const
  override readonly retryable = true
  /** Messages queued (not yet handed to the broker) when the call was refused. */
  readonly queuedMessages: number
  /** The bound that was hit (`maxQueuedMessages`). */
  readonly limitMessages: number
  constructor(
    topic: string,
    queuedMessages: number,
    limitMessages: number,
    options: SwitchyardErrorOptions = {},
  ) {
    super(
      `Cannot publish to topic ${JSON.stringify(topic)} now: ${queuedMessages} messages already wait to be sent ` +
        `(maxQueuedMessages ${limitMessages}). Nothing of this call was published; await earlier publishes ` +
        "before starting more, publish again later, raise maxQueuedMessages, or use whenFull: 'wait'.",
      { ...options, context: { ...options.context, topic, operation: 'publish' } },
    )
    this.queuedMessages = queuedMessages
    this.limitMessages = limitMessages
  }
}

/** The transport does not offer a feature that was asked for (see `Transport.capabilities`). */
export class CapabilityError extends SwitchyardError {
  override readonly name = 'CapabilityError' as const
  constructor(transport: string, capability: string, options: SwitchyardErrorOptions = {}) {
    super(
      `The ${transport} transport does not support ${capability}. Check \`transport.capabilities\` ` +
        'before using it, or choose a transport that offers it.',
      { ...options, context: { ...options.context, transport, capability } },
    )
  }
}

/** An operation did not finish in time (handler timeout, drain timeout, lock wait). */
export class TimeoutError extends SwitchyardError {
  override readonly name = 'TimeoutError' as const
  override readonly retryable = true
  constructor(operation: string, timeoutMs: number, options: SwitchyardErrorOptions = {}) {
    super(`${operation} did not finish within ${timeoutMs} ms. Raise the timeout or find what blocks it.`, {
      ...options,
      context: { ...options.context, operation, timeoutMs },
    })
  }
}

/** The operation was cancelled by the caller (an AbortSignal fired). */
export class CancelledError extends SwitchyardError {
  override readonly name = 'CancelledError' as const
  constructor(operation: string, options: SwitchyardErrorOptions = {}) {
    super(`${operation} was cancelled.`, { ...options, context: { ...options.context, operation } })
  }
}

/** A compare-and-swap write was based on a stale read: someone changed the key since. */
export class RevisionConflictError extends SwitchyardError {
  override readonly name = 'RevisionConflictError' as const
  override readonly retryable = true
  constructor(
    key: string,
    expected: string,
    actual: string | undefined,
    options: SwitchyardErrorOptions = {},
  ) {
    super(
      `Key ${JSON.stringify(key)} changed since it was read (expected revision ${expected}, found ` +
        `${actual ?? 'none'}). Read it again, re-apply your change and retry.`,
      { ...options, context: { ...options.context, key, expected, actual } },
    )
  }
}

/** A secret could not be decrypted: wrong key, unknown key id, or tampered ciphertext. */
export class SecretKeyError extends SwitchyardError {
  override readonly name = 'SecretKeyError' as const
  constructor(detail: string, options: SwitchyardErrorOptions = {}) {
    super(`Cannot decrypt a secret: ${detail}. Supply the key (and key id) it was encrypted with.`, options)
  }
}

/** A lease (lock or leadership) was lost: another process may now hold it. */
export class LeaseLostError extends SwitchyardError {
  override readonly name = 'LeaseLostError' as const
  override readonly retryable = true
  constructor(what: string, options: SwitchyardErrorOptions = {}) {
    super(
      `The lease behind ${what} was lost (etcd unreachable or the lease expired). Stop work that needs it ` +
        'and acquire it again.',
      options,
    )
  }
}

/** Every Switchyard error name, for exhaustive handling. */
export type SwitchyardErrorName =
  | TransportClosedError['name']
  | InvalidTopicError['name']
  | UnknownTopicError['name']
  | MessageTooLargeError['name']
  | DecodeError['name']
  | EncodeError['name']
  | ConfigError['name']
  | BrokerUnavailableError['name']
  | AuthenticationError['name']
  | TlsError['name']
  | PublishError['name']
  | BackpressureError['name']
  | CapabilityError['name']
  | TimeoutError['name']
  | CancelledError['name']
  | RevisionConflictError['name']
  | SecretKeyError['name']
  | LeaseLostError['name']
  | 'NoResponderError'
  | 'RemoteHandlerError'

/**
 * True when `error` is a Switchyard error (optionally of the given name). Works across duplicated
 * package copies, where `instanceof` does not.
 *
 * @example
 * if (isSwitchyardError(err, 'BrokerUnavailableError')) retryLater()
 */
export function isSwitchyardError<N extends SwitchyardErrorName>(
  error: unknown,
  name?: N,
): error is SwitchyardError & { readonly name: N } {
  if (typeof error !== 'object' || error === null) return false
  const branded = error instanceof SwitchyardError || (error as { [brand]?: unknown })[brand] === true
  return branded && (name === undefined || (error as Error).name === name)
}

/** Turns anything thrown into an `Error`, so handlers that throw strings are still reported well. */
export function toError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown
  return new Error(typeof thrown === 'string' ? thrown : `Non-error thrown: ${String(thrown)}`)
}
