/**
 * `@switchyard/nats`: the Switchyard transport for NATS JetStream, on the `@nats-io` v3 client.
 */
export { natsTransport } from './factory.js'
export { NatsTransport } from './nats-transport.js'
export type { NatsTransportOptions } from './options.js'
export { natsOptionsSchema } from './options.js'
