/**
 * `MemoryTransportOptions` and `memoryOptionsSchema`, the one description of them.
 *
 * The schema is used by the constructor (through `resolveOptions`), by `@switchyard/di` and by the
 * etcd transport document, so `{ kind: 'memory', retention: 10 }` means the same everywhere.
 * Invalid values throw `ConfigError` naming the field; unknown fields are refused with the closest
 * known name, so a typo does not silently fall back to a default. This module builds no transport.
 */
import type { StandardSchemaV1 } from '@standard-schema/spec'
import { refuseUnknownOptions, validateOptions } from '@switchyard/core/spi'
import { z } from 'zod'
import { transportKind } from './errors.js'

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

/** Options with every default applied. */
export interface ResolvedOptions {
  readonly retention: number
  readonly maxMessageBytes: number
}

/** Default of `retention`. */
export const defaultRetention = 1_000
/** Default of `maxMessageBytes` (1 MiB). */
export const defaultMaxMessageBytes = 1024 * 1024

const shape = {
  kind: z.literal(transportKind, { error: `must be '${transportKind}' (or left out)` }).optional(),
  retention: z
    .number({ error: 'must be an integer >= 0' })
    .int({ error: 'must be an integer >= 0' })
    .min(0, { error: 'must be an integer >= 0 (0 keeps nothing)' })
    .max(Number.MAX_SAFE_INTEGER)
    .default(defaultRetention),
  maxMessageBytes: z
    .union([z.number().int().positive(), z.custom<number>((value) => value === Number.POSITIVE_INFINITY)], {
      error: 'must be an integer > 0 or Infinity',
    })
    .default(defaultMaxMessageBytes),
}

/**
 * Schema of {@link MemoryTransportOptions} (a Standard Schema; zod inside). Its output has every
 * default applied.
 */
export const memoryOptionsSchema: StandardSchemaV1<
  MemoryTransportOptions,
  ResolvedOptions & { kind?: 'memory' }
> = z
  .looseObject(shape)
  .superRefine(refuseUnknownOptions(Object.keys(shape)), { when: () => true }) as StandardSchemaV1<
  MemoryTransportOptions,
  ResolvedOptions & { kind?: 'memory' }
>

/** Applies defaults; throws `ConfigError` naming every invalid or unknown field. */
export function resolveOptions(options: MemoryTransportOptions | undefined): ResolvedOptions {
  const { retention, maxMessageBytes } = validateOptions(
    memoryOptionsSchema,
    options ?? {},
    'memory transport options',
    { transport: transportKind },
  )
  return { retention, maxMessageBytes }
}
