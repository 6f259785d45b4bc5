/**
 * Maps `@platformatic/kafka` errors onto Switchyard's typed errors, as `mapKafkaError` does for
 * kafkajs (whose mapping handles what the two share: anything not recognised here goes there).
 * The library tags its errors with `code` (`PLT_KFK_NETWORK`, …) and Kafka's own error names with
 * `apiId` (`MESSAGE_TOO_LARGE`, …), nested through `cause` and `errors`.
 */
import {
  AuthenticationError,
  BrokerUnavailableError,
  isSwitchyardError,
  MessageTooLargeError,
  PublishError,
  type SwitchyardError,
} from '@switchyard/core/spi'
import { type ErrorSite, mapKafkaError } from './errors.js'

interface PlatformaticErrorLike {
  readonly message?: string
  readonly code?: string
  readonly apiId?: string
  readonly canRetry?: boolean
  readonly cause?: unknown
  readonly errors?: readonly unknown[]
}

function chain(error: unknown): PlatformaticErrorLike[] {
  const out: PlatformaticErrorLike[] = []
  const queue: unknown[] = [error]
  while (queue.length > 0 && out.length < 20) {
    const e = queue.shift()
    if (typeof e !== 'object' || e === null || out.includes(e as PlatformaticErrorLike)) continue
    const k = e as PlatformaticErrorLike
    out.push(k)
    if (k.cause !== undefined) queue.push(k.cause)
    if (Array.isArray(k.errors)) queue.push(...k.errors)
  }
  return out
}

const authIds = new Set([
  'SASL_AUTHENTICATION_FAILED',
  'UNSUPPORTED_SASL_MECHANISM',
  'ILLEGAL_SASL_STATE',
  'TOPIC_AUTHORIZATION_FAILED',
  'GROUP_AUTHORIZATION_FAILED',
  'CLUSTER_AUTHORIZATION_FAILED',
])
const outageCodes = new Set(['PLT_KFK_NETWORK', 'PLT_KFK_TIMEOUT', 'ECONNREFUSED', 'ECONNRESET', 'EPIPE'])

/** True when the error says the broker could not be reached (or stopped answering). */
export function isPlatformaticOutage(error: unknown): boolean {
  return chain(error).some((e) => e.code !== undefined && outageCodes.has(e.code))
}

/** The Switchyard error for an `@platformatic/kafka` error met at `site`. */
export function mapPlatformaticError(error: unknown, site: ErrorSite): SwitchyardError {
  if (isSwitchyardError(error)) return error
  const errors = chain(error)
  const context = {
    transport: 'kafka',
    operation: site.operation,
    ...(site.topic === undefined ? {} : { topic: site.topic }),
    ...(site.group === undefined ? {} : { group: site.group }),
  }
  const options = { cause: error, context }
  const innermost = errors[errors.length - 1]
  const detail = (innermost?.message ?? String(error)).slice(0, 300)
  const auth = errors.find(
    (e) => e.code === 'PLT_KFK_AUTHENTICATION' || (e.apiId !== undefined && authIds.has(e.apiId)),
  )
  if (auth) return new AuthenticationError('kafka', auth.message ?? 'authentication failed', options)
  if (errors.some((e) => e.apiId === 'MESSAGE_TOO_LARGE' || e.apiId === 'RECORD_LIST_TOO_LARGE')) {
    return new MessageTooLargeError(site.topic ?? '(unknown)', -1, -1, options)
  }
  if (isPlatformaticOutage(error)) {
    return new BrokerUnavailableError(
      'kafka',
      site.brokers.join(','),
      `${site.operation} failed: ${detail}`,
      options,
    )
  }
  if (site.operation === 'publish') {
    const retryable = errors.some((e) => e.canRetry === true)
    return new PublishError(site.topic ?? '(several)', detail, { ...options, retryable })
  }
  return mapKafkaError(error, site)
}
