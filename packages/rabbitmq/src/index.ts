/**
 * `@switchyard/rabbitmq`: the Switchyard transport for RabbitMQ, on amqplib.
 */
export { rabbitmqTransport } from './factory.js'
export { Naming } from './naming.js'
export type { RabbitMqQueueOptions, RabbitMqReconnectOptions, RabbitMqTransportOptions } from './options.js'
export { rabbitmqOptionsSchema } from './options.js'
export { RabbitMqTransport } from './rabbitmq-transport.js'
