/**
 * `memoryTransport`: the factory of the in-memory transport, for `@switchyard/di` and transport
 * documents (`{ kind: 'memory' }`). It only pairs the kind with the options schema and the class.
 */
import type { TransportFactory } from '@switchyard/core'
import { MemoryTransport } from './memory-transport.js'
import { type MemoryTransportOptions, memoryOptionsSchema, type ResolvedOptions } from './options.js'

/**
 * Builds a {@link MemoryTransport} from `{ kind: 'memory', ...options }`.
 *
 * **When to use**: register it with `configure(container, { transports: [memoryTransport] })`
 * (`@switchyard/di` registers it by default) or pass it to `readTransportDocument`.
 *
 * @example
 * const transport = memoryTransport.create({ retention: 0 })
 */
export const memoryTransport: TransportFactory<MemoryTransportOptions, ResolvedOptions, 'memory'> = {
  kind: 'memory',
  packageName: '@switchyard/memory',
  optionsSchema: memoryOptionsSchema,
  secretOptions: [],
  create: (options, publish) => new MemoryTransport(options, publish),
}
