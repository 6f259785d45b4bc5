/**
 * `@switchyard/memory`: the in-memory transport, Switchyard's reference model of a broker.
 */
export { defaultDrainTimeoutMs, defaultInFlight } from '@switchyard/core/spi'
export { memoryTransport } from './factory.js'
export { MemoryDriver } from './memory-driver.js'
export { createMemoryTransport, MemoryTransport } from './memory-transport.js'
export type { MemoryTransportOptions } from './options.js'
export { defaultMaxMessageBytes, defaultRetention, memoryOptionsSchema } from './options.js'
