/**
 * `@switchyard/brokers` (private): starts, stops and restarts the real test brokers — Apache Kafka
 * (KRaft), RabbitMQ and etcd (plain and auth-enabled) on 127.0.0.1 — and pins how to reach them.
 * Tests import the connection facts from here and call `restart(...)` for broker-restart scenarios.
 */

export type { BrokerStatus, UpAction, UpResult } from './broker.js'
export { BrokerError } from './broker.js'
export type { CleanResult } from './clean.js'
export { clean } from './clean.js'
export type { BrokerName } from './env.js'
export {
  brokersSettings,
  etcdAuthConnection,
  etcdConnection,
  etcdTlsConnection,
  kafkaClusterConnection,
  kafkaConnection,
  kafkaSecureConnection,
  postgresConnection,
  rabbitmqClusterConnection,
  rabbitmqConnection,
  rabbitmqSecureConnection,
  redisConnection,
} from './env.js'
export { kafkaClusterBroker } from './kafka-cluster.js'
export type { BrokerTarget } from './manager.js'
export { down, logs, restart, status, up } from './manager.js'
export { natsAuthConnection, natsConnection } from './nats.js'
export type { TestPki } from './pki.js'
export { ensurePki, readPem, testClientTls, testPkiFiles, testTlsMaterial } from './pki.js'
export { ctlOrFail as rabbitmqctl } from './rabbitmq.js'
export { rabbitmqClusterBroker } from './rabbitmq-cluster.js'
export { rabbitmqSecureTls } from './rabbitmq-secure.js'
export type { TemporaryUser } from './temporary-users.js'
export {
  temporaryEtcdUser,
  temporaryKafkaSecureUser,
  temporaryNatsAuthNkeyUser,
  temporaryNatsAuthUser,
  temporaryRabbitmqSecureUser,
  temporaryRedisUser,
} from './temporary-users.js'
