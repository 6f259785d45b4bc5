/**
 * The one place where kafkajs errors become Switchyard's typed errors.
 *
 * kafkajs wraps failures in layers (`KafkaJSNumberOfRetriesExceeded` around a
 * `KafkaJSConnectionError`, `KafkaJSAggregateError` around per-broker errors), so the mapping walks
 * the `cause`/`errors` chain and decides on the innermost meaningful error. This module never logs
 * and never puts payloads or credentials into messages.
 */
import {
  AuthenticationError,
  BrokerUnavailableError,
  ConfigError,
  isSwitchyardError,
  MessageTooLargeError,
  PublishError,
  type SwitchyardError,
  TimeoutError,
  UnknownTopicError,
} from '@switchyard/core/spi'

const transport = 'kafka'

/** An error of a Kafka client that wraps others in `cause` and `errors`. */
export interface NestedError {
  readonly message?: string
  readonly cause?: unknown
  readonly errors?: readonly unknown[]
}

interface KafkaErrorLike extends NestedError {
  readonly name?: string
  readonly type?: string
  readonly code?: string | number
  readonly retriable?: boolean
}

/**
 * Every error in the chain, outermost first (bounded, cycles ignored), read as `E`: the shape of
 * the client's errors (kafkajs or `@platformatic/kafka`).
 */
export function errorChain<E extends NestedError = KafkaErrorLike>(error: unknown): E[] {
  const out: E[] = []
  const queue: unknown[] = [error]
  while (queue.length > 0 && out.length < 20) {
    const e = queue.shift()
    if (typeof e !== 'object' || e === null || out.includes(e as E)) continue
    const k = e as E
    out.push(k)
    if (k.cause !== undefined) queue.push(k.cause)
    if (Array.isArray(k.errors)) queue.push(...k.errors)
  }
  return out
}

const connectionNames = new Set([
  'KafkaJSConnectionError',
  'KafkaJSConnectionClosedError',
  'KafkaJSBrokerNotFound',
  'KafkaJSNoBrokerAvailableError',
  'KafkaJSRequestTimeoutError',
  'KafkaJSMetadataNotLoaded',
  'KafkaJSServerDoesNotSupportApiKey',
])
const connectionCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'ETIMEDOUT',
  'EPIPE',
])
/** Kafka's error names that mean a refused login or a missing ACL (both clients report them). */
export const kafkaAuthErrors: ReadonlySet<string> = new Set([
  'SASL_AUTHENTICATION_FAILED',
  'UNSUPPORTED_SASL_MECHANISM',
  'ILLEGAL_SASL_STATE',
  'TOPIC_AUTHORIZATION_FAILED',
  'GROUP_AUTHORIZATION_FAILED',
  'CLUSTER_AUTHORIZATION_FAILED',
  'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
])

/** What was being done when the error happened. */
export interface ErrorSite {
  readonly operation: string
  readonly brokers: readonly string[]
  readonly topic?: string
  readonly group?: string
}

/** What a mapping reads of an error met at `site`, and the options of the typed error it makes. */
interface ErrorFacts<E> {
  /** The chain, outermost first. */
  readonly errors: E[]
  /** The innermost message (bounded), which usually says what went wrong. */
  readonly detail: string
  readonly options: { readonly cause: unknown; readonly context: { readonly [key: string]: string } }
}

/** The facts of `error` met at `site`, read as the client's error shape `E`. */
export function errorFacts<E extends NestedError>(error: unknown, site: ErrorSite): ErrorFacts<E> {
  const errors = errorChain<E>(error)
  const context = {
    transport,
    operation: site.operation,
    ...(site.topic === undefined ? {} : { topic: site.topic }),
    ...(site.group === undefined ? {} : { group: site.group }),
  }
  const innermost = errors[errors.length - 1]
  return {
    errors,
    detail: (innermost?.message ?? String(error)).slice(0, 300),
    options: { cause: error, context },
  }
}

/** The brokers could not be reached (or the request failed in a way a retry may mend). */
export function brokerUnavailable(
  site: ErrorSite,
  { detail, options }: Pick<ErrorFacts<unknown>, 'detail' | 'options'>,
): BrokerUnavailableError {
  return new BrokerUnavailableError(
    transport,
    site.brokers.join(','),
    `${site.operation} failed: ${detail}`,
    options,
  )
}

/** True when the error means the broker could not be reached (as opposed to a refusal). */
export function isConnectionFailure(error: unknown): boolean {
  return errorChain(error).some(
    (e) =>
      (e.name !== undefined && connectionNames.has(e.name)) ||
      (typeof e.code === 'string' && connectionCodes.has(e.code)) ||
      (e.name === 'KafkaJSNumberOfRetriesExceeded' &&
        /connect|ECONN|socket|timed? ?out/i.test(e.message ?? '')) ||
      // kafkajs throws a plain Error from a broker object whose connection is gone (after a restart).
      /^(Broker not connected|Not connected)$/.test(e.message ?? ''),
  )
}

/** True for kafkajs' plain error about a broker connection that is gone (it is not retried by kafkajs). */
export function isStaleConnection(error: unknown): boolean {
  return errorChain(error).some((e) => /^(Broker not connected|Not connected)$/.test(e.message ?? ''))
}

function isRetriable(e: { name?: string; retriable?: unknown }): boolean {
  return e.retriable === true || e.name === 'KafkaJSNumberOfRetriesExceeded'
}

/** Maps anything kafkajs throws onto a Switchyard error; Switchyard errors pass through unchanged. */
export function mapKafkaError(error: unknown, site: ErrorSite): SwitchyardError {
  if (isSwitchyardError(error)) return error
  const facts = errorFacts<KafkaErrorLike>(error, site)
  const { errors, detail, options } = facts

  const auth = errors.find(
    (e) =>
      e.name === 'KafkaJSSASLAuthenticationError' || (e.type !== undefined && kafkaAuthErrors.has(e.type)),
  )
  if (auth) return new AuthenticationError(transport, auth.message ?? 'authentication failed', options)

  if (errors.some((e) => e.type === 'INVALID_SESSION_TIMEOUT')) {
    // The broker bounds the session timeout (group.min/max.session.timeout.ms): no retry can help.
    return new ConfigError(
      'Kafka transport options',
      [
        "sessionTimeoutMs: the broker refused it; it must lie within the broker's " +
          'group.min.session.timeout.ms and group.max.session.timeout.ms (6,000 and 1,800,000 by default)',
      ],
      options,
    )
  }
  if (errors.some((e) => e.type === 'MESSAGE_TOO_LARGE' || e.type === 'RECORD_LIST_TOO_LARGE')) {
    return new MessageTooLargeError(site.topic ?? '(unknown)', -1, -1, options)
  }
  const connection = isConnectionFailure(error)
  const timeout = errors.some((e) => e.name === 'KafkaJSTimeout' || e.name === 'KafkaJSLockTimeout')
  if (
    !connection &&
    ((site.operation === 'create topic' && !timeout && !errors.some(isRetriable)) ||
      errors.some((e) => e.type === 'UNKNOWN_TOPIC_OR_PARTITION' || e.type === 'INVALID_TOPIC_EXCEPTION'))
  ) {
    // A refusal to create the topic (invalid name, replication factor above the broker count, a
    // policy) is not an outage: retrying cannot help, so it is not a BrokerUnavailableError. The
    // kafkajs error stays the cause and its message is quoted, since it says what to change.
    const unknown = new UnknownTopicError(site.topic ?? '(unknown)', options)
    unknown.message = `${unknown.message} Kafka said: ${detail}`
    return unknown
  }
  if (connection) return brokerUnavailable(site, facts)
  if (timeout) {
    return new TimeoutError(`kafka ${site.operation}`, 0, options)
  }
  if (site.operation === 'publish') {
    const retriable = errors.some((e) => e.retriable === true || e.name === 'KafkaJSNumberOfRetriesExceeded')
    return new PublishError(site.topic ?? '(several)', detail, { ...options, retryable: retriable })
  }
  // Anything else (protocol errors during admin/consume) is reported as an unavailable broker:
  // it is retryable from the user's point of view and keeps the kafkajs error as its cause.
  return brokerUnavailable(site, facts)
}
