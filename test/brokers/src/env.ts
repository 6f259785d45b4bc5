/**
 * Where the test brokers listen and how to log in: one place, read from environment variables
 * with loopback defaults. Tests, benchmarks and examples import these instead of hard-coding.
 */
const env = (name: string, fallback: string): string => process.env[name] ?? fallback

/** Apache Kafka, single-node KRaft. */
export const kafkaConnection = {
  host: '127.0.0.1',
  port: Number(env('SWITCHYARD_KAFKA_PORT', '9092')),
  controllerPort: Number(env('SWITCHYARD_KAFKA_CONTROLLER_PORT', '9093')),
  get brokers(): string[] {
    return [`${this.host}:${this.port}`]
  },
}

/** RabbitMQ: a dedicated vhost and (non-guest) user created by `up rabbitmq`. */
export const rabbitmqConnection = {
  host: '127.0.0.1',
  port: Number(env('SWITCHYARD_RABBITMQ_PORT', '5672')),
  vhost: env('SWITCHYARD_RABBITMQ_VHOST', 'switchyard-test'),
  username: env('SWITCHYARD_RABBITMQ_USER', 'switchyard'),
  password: env('SWITCHYARD_RABBITMQ_PASSWORD', 'switchyard-test-password'),
  get url(): string {
    return `amqp://${encodeURIComponent(this.username)}:${encodeURIComponent(this.password)}@${this.host}:${this.port}/${encodeURIComponent(this.vhost)}`
  },
}

/** etcd without authentication. */
export const etcdConnection = {
  host: '127.0.0.1',
  port: Number(env('SWITCHYARD_ETCD_PORT', '2379')),
  peerPort: Number(env('SWITCHYARD_ETCD_PEER_PORT', '2380')),
  get endpoints(): string[] {
    return [`http://${this.host}:${this.port}`]
  },
}

/** A second etcd with authentication enabled (user `root`), for the credentials tests. */
export const etcdAuthConnection = {
  host: '127.0.0.1',
  port: Number(env('SWITCHYARD_ETCD_AUTH_PORT', '2389')),
  peerPort: Number(env('SWITCHYARD_ETCD_AUTH_PEER_PORT', '2390')),
  username: 'root',
  password: env('SWITCHYARD_ETCD_AUTH_PASSWORD', 'switchyard-etcd-password'),
  get endpoints(): string[] {
    return [`http://${this.host}:${this.port}`]
  },
}

export type BrokerName = 'kafka' | 'rabbitmq' | 'etcd' | 'etcd-auth'
