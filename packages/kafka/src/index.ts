/**
 * `@switchyard/kafka`: the Switchyard transport for Apache Kafka, on kafkajs.
 */

export { kafkaTransport } from './factory.js'
export { KafkaTransport } from './kafka-transport.js'
export type { KafkaCompression, KafkaLogLevel, KafkaTransportOptions } from './options.js'
export { kafkaOptionsSchema } from './options.js'
