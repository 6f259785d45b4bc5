/**
 * `@switchyard/kafka`: the Switchyard transport for Apache Kafka, on kafkajs.
 */
export { KafkaTransport } from './kafka-transport.js'
export type { KafkaCompression, KafkaLogLevel, KafkaTransportOptions } from './options.js'
