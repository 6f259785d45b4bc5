/**
 * Maps `@platformatic/kafka` errors onto Switchyard's typed errors, as `mapKafkaError` does for
 * kafkajs (whose mapping handles what the two share: anything not recognised here goes there).
 * The library tags its errors with `code` (`PLT_KFK_NETWORK`, …) and Kafka's own error names with
 * `apiId` (`MESSAGE_TOO_LARGE`, …), nested through `cause` and `errors`.
 */
import {
  AuthenticationError,
  isSwitchyardError,
  MessageTooLargeError,
  PublishError,
  type SwitchyardError,
} from '@switchyard/core/spi'
import {
  brokerUnavailable,
  type ErrorSite,
  errorChain,
  errorFacts,
  kafkaAuthErrors,
  mapKafkaError,
  type NestedError,
} from './errors.js'

interface PlatformaticErrorLike extends NestedError {
  readonly code?: string
  readonly apiId?: string
  readonly canRetry?: boolean
}

const outageCodes = new Set(['PLT_KFK_NETWORK', 'PLT_KFK_TIMEOUT', 'ECONNREFUSED', 'ECONNRESET', 'EPIPE'])

/** True when the error says the broker could not be reached (or stopped answering). */
export function isPlatformaticOutage(error: unknown): boolean {
  return errorChain<PlatformaticErrorLike>(error).some((e) => e.code !== undefined && outageCodes.has(e.code))
}

/** The Switchyard error for an `@platformatic/kafka` error met at `site`. */
export function mapPlatformaticError(error: unknown, site: ErrorSite): SwitchyardError {
  if (isSwitchyardError(error)) return error
  const facts = errorFacts<PlatformaticErrorLike>(error, site)
  const { errors, detail, options } = facts
  const auth = errors.find(
    (e) => e.code === 'PLT_KFK_AUTHENTICATION' || (e.apiId !== undefined && kafkaAuthErrors.has(e.apiId)),
  )
  if (auth) return new AuthenticationError('kafka', auth.message ?? 'authentication failed', options)
  if (errors.some((e) => e.apiId === 'MESSAGE_TOO_LARGE' || e.apiId === 'RECORD_LIST_TOO_LARGE')) {
    return new MessageTooLargeError(site.topic ?? '(unknown)', -1, -1, options)
  }
  if (isPlatformaticOutage(error)) return brokerUnavailable(site, facts)
  if (site.operation === 'publish') {
    const retryable = errors.some((e) => e.canRetry === true)
    return new PublishError(site.topic ?? '(several)', detail, { ...options, retryable })
  }
  return mapKafkaError(error, site)
}
