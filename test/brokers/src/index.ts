/**
 * `@switchyard/brokers` (private): start, stop and restart the real test brokers.
 * The lead helper implements `up`, `down`, `restart` here; the connection facts are in `env.ts`.
 */

export type { BrokerName } from './env.js'
export { etcdAuthConnection, etcdConnection, kafkaConnection, rabbitmqConnection } from './env.js'
