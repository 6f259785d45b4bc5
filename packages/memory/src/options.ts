/**
 * `MemoryTransportOptions` and their validation.
 *
 * Options are plain data, so a configuration document `{ kind: 'memory', ... }` can be passed as
 * is. Invalid values throw `ConfigError` naming the field; unknown fields are refused rather than
 * ignored, so a typo does not silently fall back to a default.
 */
import type { ConfigError } from '@switchyard/core/spi'
import { optionError } from './errors.js'

/** Options of {@link MemoryTransport}. All are optional. */
export interface MemoryTransportOptions {
  /** Accepted so that a transport config document can be passed unchanged; must be `'memory'`. */
  readonly kind?: 'memory'
  /**
   * Messages retained per topic for groups created with `fromBeginning` (default 1,000).
   * `0` keeps nothing and turns the `replay` capability off. Retained messages outlive V8's young
   * generation, so a large value costs throughput: 100,000 roughly halves a busy `Bus`.
   */
  readonly retention?: number
  /**
   * Largest payload plus headers (UTF-8 bytes of names and values) accepted by `publish`
   * (default 1 MiB, like a default Kafka broker). `Infinity` removes the limit.
   */
  readonly maxMessageBytes?: number
}

export interface ResolvedOptions {
  readonly retention: number
  readonly maxMessageBytes: number
}

export const defaultRetention = 1_000
export const defaultMaxMessageBytes = 1024 * 1024

const what = 'memory transport options'
const known = new Set(['kind', 'retention', 'maxMessageBytes'])

/** Applies defaults; throws `ConfigError` for an invalid or unknown field. */
export function resolveOptions(options: MemoryTransportOptions | undefined): ResolvedOptions {
  if (options === undefined) return { retention: defaultRetention, maxMessageBytes: defaultMaxMessageBytes }
  if (typeof options !== 'object' || options === null) {
    throw optionError(what, 'options', `must be an object, got ${String(options)}`)
  }
  for (const field of Object.keys(options)) {
    if (!known.has(field))
      throw optionError(what, field, `is not an option (known: ${[...known].join(', ')})`)
  }
  if (options.kind !== undefined && options.kind !== 'memory') {
    throw optionError(what, 'kind', `must be 'memory', got ${JSON.stringify(options.kind)}`)
  }
  const retention = options.retention ?? defaultRetention
  if (!Number.isSafeInteger(retention) || retention < 0) {
    throw invalid('retention', 'must be an integer >= 0', retention)
  }
  const maxMessageBytes = options.maxMessageBytes ?? defaultMaxMessageBytes
  if (
    !(
      maxMessageBytes === Number.POSITIVE_INFINITY ||
      (Number.isSafeInteger(maxMessageBytes) && maxMessageBytes > 0)
    )
  ) {
    throw invalid('maxMessageBytes', 'must be an integer > 0 or Infinity', maxMessageBytes)
  }
  return { retention, maxMessageBytes }
}

function invalid(field: string, rule: string, value: unknown): ConfigError {
  return optionError(what, field, `${rule}, got ${String(value)}`)
}
