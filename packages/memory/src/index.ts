/**
 * `@switchyard/memory`: the in-memory transport, Switchyard's reference model of a broker.
 */

export { memoryTransport } from './factory.js'
export {
  createMemoryTransport,
  defaultDrainTimeoutMs,
  defaultInFlight,
  MemoryTransport,
} from './memory-transport.js'
export type { MemoryTransportOptions } from './options.js'
export { defaultMaxMessageBytes, defaultRetention, memoryOptionsSchema } from './options.js'
