/**
 * Retry policy: normalising `HandleOptions.retry` and computing the backoff before each retry.
 *
 * Pure functions (the random source is injectable), used by the `Bus` handler loop. This module
 * does not schedule anything and does not decide what happens after the last attempt (see
 * `bus.ts`: dead-letter, then ack).
 */
import type { RetryPolicy } from './bus-options.js'
import { ConfigError, isSwitchyardError } from './errors.js'

/** Defaults of {@link RetryPolicy}. */
export const retryDefaults = {
  attempts: 3,
  backoff: 'exponential',
  initialDelayMs: 100,
  maxDelayMs: 30_000,
  jitter: true,
} as const

/** A {@link RetryPolicy} with every default filled in. */
export interface NormalisedRetry {
  readonly attempts: number
  readonly backoff: NonNullable<RetryPolicy['backoff']>
  readonly initialDelayMs: number
  readonly maxDelayMs: number
  readonly jitter: boolean
  readonly retryable: RetryPolicy['retryable']
}

function fail(field: string, issue: string): never {
  throw new ConfigError('handle options', [`${field} ${issue}`], { context: { field } })
}

function checkCount(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    fail(field, `must be an integer >= 1, got ${String(value)}`)
  }
  return value
}

function checkDelay(field: string, value: unknown): number {
  if (typeof value !== 'number' || !(value >= 0) || Number.isNaN(value)) {
    fail(field, `must be a number >= 0, got ${String(value)}`)
  }
  return value
}

/**
 * Normalises `HandleOptions.retry`: `undefined` → 3 attempts, a number → that many attempts,
 * `false` → a single attempt, a policy → its fields with defaults. Throws `ConfigError` whose
 * `context.field` names the offending field (`retry`, `retry.attempts`, …).
 */
export function normaliseRetry(retry: RetryPolicy | number | false | undefined): NormalisedRetry {
  if (retry === undefined) return { ...retryDefaults, retryable: undefined }
  if (retry === false) return { ...retryDefaults, attempts: 1, retryable: undefined }
  if (typeof retry === 'number') {
    return { ...retryDefaults, attempts: checkCount('retry', retry), retryable: undefined }
  }
  if (typeof retry !== 'object' || retry === null) {
    fail('retry', `must be a retry policy object, a number of attempts or false, got ${String(retry)}`)
  }
  const attempts = checkCount('retry.attempts', retry.attempts ?? retryDefaults.attempts)
  const backoff = retry.backoff ?? retryDefaults.backoff
  if (backoff !== 'exponential' && backoff !== 'fixed' && typeof backoff !== 'function') {
    fail('retry.backoff', `must be 'exponential', 'fixed' or a function, got ${String(backoff)}`)
  }
  const initialDelayMs = checkDelay(
    'retry.initialDelayMs',
    retry.initialDelayMs ?? retryDefaults.initialDelayMs,
  )
  const maxDelayMs = checkDelay('retry.maxDelayMs', retry.maxDelayMs ?? retryDefaults.maxDelayMs)
  const jitter = retry.jitter ?? retryDefaults.jitter
  if (typeof jitter !== 'boolean') fail('retry.jitter', `must be a boolean, got ${String(jitter)}`)
  if (retry.retryable !== undefined && typeof retry.retryable !== 'function') {
    fail('retry.retryable', 'must be a function (error, attempt) => boolean')
  }
  return { attempts, backoff, initialDelayMs, maxDelayMs, jitter, retryable: retry.retryable }
}

/**
 * The delay in ms before retrying after attempt `attempt` (1-based) failed.
 *
 * - `exponential`: `initialDelayMs * 2^(attempt-1)`, capped at `maxDelayMs`; with `jitter` drawn
 *   uniformly from `[delay/2, delay]`.
 * - `fixed`: `initialDelayMs` every time (no jitter).
 * - a function: its result, which must be a finite number >= 0 (else `ConfigError`).
 *
 * @param random a source of numbers in [0, 1), `Math.random` by default (tests inject one).
 */
export function backoffDelay(
  policy: NormalisedRetry,
  attempt: number,
  error: Error,
  random: () => number = Math.random,
): number {
  const { backoff } = policy
  if (typeof backoff === 'function') {
    const delay = backoff(attempt, error)
    if (typeof delay !== 'number' || !Number.isFinite(delay) || delay < 0) {
      throw new ConfigError('retry policy', [`retry.backoff returned ${String(delay)}, not a number >= 0`], {
        context: { field: 'retry.backoff' },
      })
    }
    return delay
  }
  if (backoff === 'fixed') return policy.initialDelayMs
  const exponent = Math.max(0, attempt - 1)
  const delay = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** exponent)
  if (!policy.jitter) return Math.round(delay)
  return Math.round(delay / 2 + random() * (delay / 2))
}

/**
 * Whether a failed attempt may be retried: never for `DecodeError` or after the last attempt;
 * otherwise the policy's `retryable` decides (default: yes).
 */
export function shouldRetry(policy: NormalisedRetry, attempt: number, error: Error): boolean {
  if (attempt >= policy.attempts) return false
  if (isSwitchyardError(error, 'DecodeError')) return false
  return policy.retryable === undefined ? true : policy.retryable(error, attempt) === true
}
