/**
 * `@switchyard/memory`: the in-memory transport, Switchyard's reference model of a broker.
 */
export {
  createMemoryTransport,
  defaultDrainTimeoutMs,
  defaultInFlight,
  MemoryTransport,
} from './memory-transport.js'
export type { MemoryTransportOptions } from './options.js'
export { defaultMaxMessageBytes, defaultRetention } from './options.js'
