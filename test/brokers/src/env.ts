/**
 * Where the test brokers listen and how to log in: one place, read from environment variables
 * with loopback defaults. Tests, benchmarks and examples import these instead of hard-coding.
 */
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'

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

/**
 * A three-node Apache Kafka cluster (combined broker+controller nodes) for the fault-tolerance tests:
 * node `i` (1-3) listens on `basePort + i - 1` for clients and `basePort + 100 + i - 1` for the
 * controller quorum. Started on demand (`up kafka-cluster`), never by `up all`.
 */
export const kafkaClusterConnection = {
  host: '127.0.0.1',
  basePort: Number(env('SWITCHYARD_KAFKA_CLUSTER_PORT', '19092')),
  nodeIds: [1, 2, 3] as const,
  port(nodeId: number): number {
    return this.basePort + nodeId - 1
  },
  controllerPort(nodeId: number): number {
    return this.basePort + 100 + nodeId - 1
  },
  get brokers(): string[] {
    return this.nodeIds.map((id) => `${this.host}:${this.port(id)}`)
  },
}

/**
 * A separate single-node Kafka for the TLS/SASL tests ("kafka-secure"): a `SASL_SSL` listener (TLS with
 * the test CA's server certificate, SCRAM-SHA-512 users made at storage format), an `SSL` listener that
 * requires a client certificate from the test CA (mutual TLS, no SASL), and a plaintext one beside
 * them (for the "TLS client against a plaintext port" case). Started on demand (`up kafka-secure`),
 * never by `up all`, so the shared Kafka is never restarted for it.
 */
export const kafkaSecureConnection = {
  host: '127.0.0.1',
  /** SASL_SSL clients. */
  port: Number(env('SWITCHYARD_KAFKA_SECURE_PORT', '19392')),
  /** Plaintext clients (no TLS, no SASL) on the same broker. */
  plaintextPort: Number(env('SWITCHYARD_KAFKA_SECURE_PLAINTEXT_PORT', '19393')),
  controllerPort: Number(env('SWITCHYARD_KAFKA_SECURE_CONTROLLER_PORT', '19394')),
  /** `SSL` clients that show a certificate signed by the test CA (`ssl.client.auth=required`). */
  mtlsPort: Number(env('SWITCHYARD_KAFKA_SECURE_MTLS_PORT', '19395')),
  /** The SCRAM-SHA-512 user the tests log in as. */
  username: 'switchyard',
  password: env('SWITCHYARD_KAFKA_SECURE_PASSWORD', 'switchyard-kafka-scram-secret'),
  get brokers(): string[] {
    return [`${this.host}:${this.port}`]
  },
  get plaintextBrokers(): string[] {
    return [`${this.host}:${this.plaintextPort}`]
  },
  get mtlsBrokers(): string[] {
    return [`${this.host}:${this.mtlsPort}`]
  },
}

/**
 * A separate RabbitMQ node for the TLS tests ("rabbitmq-secure", node `sysec@localhost`): AMQP over
 * TLS on `tlsPort` with `verify_peer` and `fail_if_no_peer_cert` (clients must show a certificate from
 * the test CA) and plain AMQP on `port`, its own epmd and Erlang cookie. User `switchyard-tls` may use
 * only vhost `switchyard-secure`, and there only the names the transport declares with its default
 * prefix (`switchyard.*`, `switchyard:*`), server-named exclusive queues (`amq.gen-*`) and, for writing,
 * the default exchange (retries go back to a queue through it). Started on demand
 * (`up rabbitmq-secure`), never by `up all`.
 */
export const rabbitmqSecureConnection = {
  host: '127.0.0.1',
  port: Number(env('SWITCHYARD_RABBITMQ_SECURE_PORT', '5691')),
  tlsPort: Number(env('SWITCHYARD_RABBITMQ_SECURE_TLS_PORT', '5692')),
  distPort: Number(env('SWITCHYARD_RABBITMQ_SECURE_DIST_PORT', '25691')),
  epmdPort: Number(env('SWITCHYARD_RABBITMQ_SECURE_EPMD_PORT', '4371')),
  nodeName: 'sysec@localhost',
  vhost: 'switchyard-secure',
  username: 'switchyard-tls',
  password: env('SWITCHYARD_RABBITMQ_SECURE_PASSWORD', 'switchyard-rabbit-tls-secret'),
  /** The permission patterns of `username` on `vhost` (configure, write, read): the documented minimum. */
  permissions: {
    configure: '^(switchyard[.:].*|amq\\.gen-.*)$',
    write: '^(switchyard[.:].*|amq\\.gen-.*|amq\\.default)$',
    read: '^(switchyard[.:].*|amq\\.gen-.*)$',
  },
}

/**
 * A three-node RabbitMQ cluster on one host (nodes `sy1@localhost` … `sy3@localhost`) for the
 * quorum-queue fault tests: node `i` takes AMQP port `basePort + i - 1` and Erlang distribution port
 * `basePort + 20000 + i - 1`, with its own epmd on `epmdPort`. User `guest` (loopback only).
 * Started on demand (`up rabbitmq-cluster`), never by `up all`.
 */
export const rabbitmqClusterConnection = {
  host: '127.0.0.1',
  basePort: Number(env('SWITCHYARD_RABBITMQ_CLUSTER_PORT', '5681')),
  epmdPort: Number(env('SWITCHYARD_RABBITMQ_CLUSTER_EPMD_PORT', '4370')),
  nodeIds: [1, 2, 3] as const,
  port(nodeId: number): number {
    return this.basePort + nodeId - 1
  },
  distPort(nodeId: number): number {
    return this.basePort + 20000 + nodeId - 1
  },
  nodeName(nodeId: number): string {
    return `sy${nodeId}@localhost`
  },
  url(nodeId: number): string {
    return `amqp://guest:guest@${this.host}:${this.port(nodeId)}`
  },
  get urls(): string[] {
    return this.nodeIds.map((id) => this.url(id))
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

/**
 * A third etcd that speaks only TLS and requires a client certificate from the test CA
 * (`ensurePki()`), for the TLS tests. Started by `up etcd-tls` (and `up all`).
 */
export const etcdTlsConnection = {
  host: '127.0.0.1',
  port: Number(env('SWITCHYARD_ETCD_TLS_PORT', '2399')),
  peerPort: Number(env('SWITCHYARD_ETCD_TLS_PEER_PORT', '2400')),
  get endpoints(): string[] {
    return [`https://${this.host}:${this.port}`]
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

/**
 * The Switchyard test Redis (not the machine's own on 6379): AOF on, own data folder. The default
 * user has no password (the contract suites use it); `up redis` also sets the ACL user
 * `aclUser`, limited to the keys under `aclKeyPrefix` and the commands the transport sends.
 */
export const redisConnection = {
  host: '127.0.0.1',
  port: Number(env('SWITCHYARD_REDIS_PORT', '6390')),
  aclUser: env('SWITCHYARD_REDIS_ACL_USER', 'switchyard-app'),
  aclPassword: env('SWITCHYARD_REDIS_ACL_PASSWORD', 'switchyard-redis-password'),
  /** The only keys the ACL user may touch: the transport's default prefix. */
  aclKeyPrefix: 'switchyard:',
  /** The same server's TLS port: server certificate of the test PKI, client certificates required. */
  tlsPort: Number(env('SWITCHYARD_REDIS_TLS_PORT', '6393')),
  get url(): string {
    return `redis://${this.host}:${this.port}`
  },
  get tlsUrl(): string {
    return `rediss://${this.host}:${this.tlsPort}`
  },
}

/**
 * The Switchyard test PostgreSQL (not the machine's own on 5432): its own cluster and data folder,
 * TCP on 127.0.0.1 only, superuser `user` with a SCRAM password, test database `database`. The
 * outbox and dedup-store tests of `@switchyard/postgres` make one schema each (`sy_…`) and drop it.
 */
export const postgresConnection = {
  host: '127.0.0.1',
  port: Number(env('SWITCHYARD_POSTGRES_PORT', '5442')),
  user: env('SWITCHYARD_POSTGRES_USER', 'switchyard'),
  password: env('SWITCHYARD_POSTGRES_PASSWORD', 'switchyard-postgres-password'),
  database: env('SWITCHYARD_POSTGRES_DATABASE', 'switchyard'),
  get url(): string {
    return `postgres://${this.host}:${this.port}/${this.database}`
  },
}

export type BrokerName =
  | 'kafka'
  | 'rabbitmq'
  | 'etcd'
  | 'etcd-auth'
  | 'etcd-tls'
  | 'redis'
  | 'postgres'
  | 'nats'
  | 'nats-auth'
  | 'kafka-cluster'
  | 'rabbitmq-cluster'
  | 'kafka-secure'
  | 'rabbitmq-secure'

/**
 * Where the broker manager keeps what it starts: downloaded Kafka jars, data folders, logs and pid
 * files. Brokers are machine-wide (their ports are), so the folder is per user, not per clone:
 * `$XDG_CACHE_HOME/switchyard/brokers` (default `~/.cache/switchyard/brokers`) unless
 * `SWITCHYARD_BROKERS_DIR` says otherwise. A second clone (or CI's clean clone) therefore finds,
 * reuses and restarts the same brokers with the same data instead of fighting over the ports.
 */
export const brokersSettings = {
  dir: resolve(
    env(
      'SWITCHYARD_BROKERS_DIR',
      join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'switchyard', 'brokers'),
    ),
  ),
  /** Apache Kafka version resolved from Maven Central (`test/brokers/kafka/pom.xml`). */
  kafkaVersion: env('SWITCHYARD_KAFKA_VERSION', '4.4.0'),
  /** Maximum Java heap of the Kafka broker. */
  kafkaHeap: env('SWITCHYARD_KAFKA_HEAP', '768m'),
  /** How long one broker may take to become ready after its process was started. */
  readyTimeoutMs: Number(env('SWITCHYARD_BROKERS_READY_TIMEOUT_MS', '90000')),
  /** How long downloads and package installs (Maven, apt-get) may take. */
  installTimeoutMs: Number(env('SWITCHYARD_BROKERS_INSTALL_TIMEOUT_MS', '600000')),
  /** Commands the manager runs; override to pick another JDK or binary. */
  javaCommand: env('SWITCHYARD_JAVA', 'java'),
  mavenCommand: env('SWITCHYARD_MVN', 'mvn'),
  etcdCommand: env('SWITCHYARD_ETCD', 'etcd'),
  redisCommand: env('SWITCHYARD_REDIS_SERVER', 'redis-server'),
}
