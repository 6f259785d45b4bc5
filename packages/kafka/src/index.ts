/**
 * `@switchyard/kafka`: the Switchyard transport for Apache Kafka, on kafkajs or @platformatic/kafka.
 */

export { kafkaTransport } from './factory.js'
export { KafkaTransport } from './kafka-transport.js'
export type {
  KafkaClientName,
  KafkaCompression,
  KafkaGroupProtocol,
  KafkaLogLevel,
  KafkaTransportOptions,
} from './options.js'
export { kafkaOptionsSchema } from './options.js'
