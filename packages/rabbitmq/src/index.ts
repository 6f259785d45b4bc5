/**
 * `@switchyard/rabbitmq`: the Switchyard transport for RabbitMQ, on amqplib.
 */
export { Naming } from './naming.js'
export type { RabbitMqQueueOptions, RabbitMqReconnectOptions, RabbitMqTransportOptions } from './options.js'
export { RabbitMqTransport } from './rabbitmq-transport.js'
