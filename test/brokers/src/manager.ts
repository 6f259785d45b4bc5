/**
 * The broker manager's programmatic API: `up`, `down`, `status`, `restart`, `logs` over the managed
 * brokers (Kafka, RabbitMQ, the plain etcd and the auth-enabled etcd). Tests and the CLI call these.
 * Callers serialise broker work with `flock /tmp/switchyard-brokers.lock`; the manager takes no lock.
 */
import { readFileSync } from 'node:fs'
import { type BrokerDriver, BrokerError, type BrokerStatus, type UpResult } from './broker.js'
import type { BrokerName } from './env.js'
import { etcdAuthBroker, etcdBroker, etcdTlsBroker } from './etcd.js'
import { kafkaBroker } from './kafka.js'
import { kafkaClusterBroker } from './kafka-cluster.js'
import { kafkaSecureBroker } from './kafka-secure.js'
import { natsAuthBroker, natsBroker } from './nats.js'
import { postgresBroker } from './postgres.js'
import { rabbitmqBroker } from './rabbitmq.js'
import { rabbitmqClusterBroker } from './rabbitmq-cluster.js'
import { rabbitmqSecureBroker } from './rabbitmq-secure.js'
import { redisBroker } from './redis.js'

/**
 * What a command applies to: one broker, `etcd` (both etcd instances, plain and auth-enabled),
 * `etcd-auth` (only the auth-enabled one) or `all`.
 */
export type BrokerTarget = BrokerName | 'all'

const drivers: Record<BrokerName, BrokerDriver> = {
  kafka: kafkaBroker,
  rabbitmq: rabbitmqBroker,
  etcd: etcdBroker,
  'etcd-auth': etcdAuthBroker,
  redis: redisBroker,
  postgres: postgresBroker,
  nats: natsBroker,
  'nats-auth': natsAuthBroker,
  'etcd-tls': etcdTlsBroker,
  'kafka-cluster': kafkaClusterBroker,
  'rabbitmq-cluster': rabbitmqClusterBroker,
  'kafka-secure': kafkaSecureBroker,
  'rabbitmq-secure': rabbitmqSecureBroker,
}

/** Every target the CLI accepts. */
export const brokerTargets: readonly BrokerTarget[] = [
  'kafka',
  'rabbitmq',
  'etcd',
  'etcd-auth',
  'redis',
  'postgres',
  'nats',
  'nats-auth',
  'etcd-tls',
  'kafka-cluster',
  'rabbitmq-cluster',
  'kafka-secure',
  'rabbitmq-secure',
  'all',
]

const select = (which: BrokerTarget): BrokerDriver[] => {
  switch (which) {
    case 'all':
      return [
        kafkaBroker,
        rabbitmqBroker,
        etcdBroker,
        etcdAuthBroker,
        etcdTlsBroker,
        redisBroker,
        postgresBroker,
        natsBroker,
        natsAuthBroker,
      ]
    case 'etcd':
      return [etcdBroker, etcdAuthBroker, etcdTlsBroker]
    case 'kafka':
    case 'rabbitmq':
    case 'etcd-auth':
    case 'redis':
    case 'postgres':
    case 'nats':
    case 'nats-auth':
    case 'etcd-tls':
    // The clusters and the TLS brokers are started on demand by the tests that need them, never by `all`.
    case 'kafka-cluster':
    case 'rabbitmq-cluster':
    case 'kafka-secure':
    case 'rabbitmq-secure':
      return [drivers[which]]
    default:
      throw new BrokerError(
        'all',
        `unknown broker '${String(which)}'; use one of ${brokerTargets.join(', ')}`,
      )
  }
}

/**
 * Starts the selected brokers, or reuses them when they already answer, and resolves once each is
 * ready (Kafka creates a topic, RabbitMQ accepts the test user, etcd round-trips a key). Brokers
 * are checked and started concurrently (package installs still queue one at a time); results come
 * in the order kafka, rabbitmq, etcd, etcd-auth, and all failures are reported together.
 */
export const up = async (which: BrokerTarget = 'all'): Promise<UpResult[]> => {
  const settled = await Promise.allSettled(select(which).map((driver) => driver.up()))
  const results: UpResult[] = []
  const failures: Error[] = []
  for (const outcome of settled) {
    if (outcome.status === 'fulfilled') results.push(outcome.value)
    else failures.push(outcome.reason instanceof Error ? outcome.reason : new Error(String(outcome.reason)))
  }
  if (failures.length === 1) throw failures[0]
  if (failures.length > 1) {
    throw new BrokerError(
      'all',
      `${failures.length} brokers failed:\n${failures.map((f) => f.message).join('\n')}`,
    )
  }
  return results
}

/** Stops the selected brokers and waits until their processes are gone; data folders are kept. */
export const down = async (which: BrokerTarget = 'all'): Promise<void> => {
  for (const driver of select(which).reverse()) await driver.stop()
}

/** What runs, versions, ports, and the data and log folders of every broker (the clusters too). */
export const status = async (): Promise<BrokerStatus[]> =>
  Promise.all(
    [
      ...select('all'),
      kafkaClusterBroker,
      rabbitmqClusterBroker,
      kafkaSecureBroker,
      rabbitmqSecureBroker,
    ].map((d) => d.status()),
  )

/**
 * Stops and starts a broker with its data kept, and resolves only once it is ready again — the
 * contract suites' broker-restart scenarios call this. `etcd` restarts both etcd instances.
 */
export const restart = async (broker: Exclude<BrokerTarget, 'all'>): Promise<UpResult[]> => {
  const selected = select(broker)
  const stopMs: number[] = []
  for (const driver of selected) {
    const began = Date.now()
    await driver.stop()
    stopMs.push(Date.now() - began)
  }
  const results: UpResult[] = []
  for (const [index, driver] of selected.entries())
    results.push({ ...(await driver.up()), stopMs: stopMs[index] ?? 0 })
  return results
}

/** The log file path(s) and their last `lines` lines. */
export const logs = (broker: Exclude<BrokerTarget, 'all'>, lines = 100): { file: string; text: string }[] =>
  select(broker).map((driver) => {
    const file = driver.logFile()
    let text: string
    try {
      text = readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
    } catch {
      text = `(no log at ${file})`
    }
    return { file, text }
  })
