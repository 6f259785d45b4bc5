/**
 * The cluster fault scenarios on a three-node Kafka cluster (replication factor 3,
 * `min.insync.replicas=2`) started by `@switchyard/brokers` for this file and stopped after it:
 * the leader of the topic's first partition is killed with `kill -9` mid-stream.
 */
import { down, kafkaClusterBroker, kafkaClusterConnection, up } from '@switchyard/brokers'
import { clusterContract } from '@switchyard/contract'
import { Kafka, logLevel } from 'kafkajs'
import { afterAll, beforeAll } from 'vitest'
import { KafkaTransport } from '../kafka-transport.js'

beforeAll(() => up('kafka-cluster'), 240_000)
afterAll(() => down('kafka-cluster'), 120_000)

/** The node id leading partition 0 of `topic`. */
async function partitionLeader(topic: string): Promise<number> {
  const admin = new Kafka({
    clientId: 'switchyard-cluster-test',
    brokers: kafkaClusterConnection.brokers,
    logLevel: logLevel.NOTHING,
  }).admin()
  await admin.connect()
  try {
    const { topics } = await admin.fetchTopicMetadata({ topics: [topic] })
    const leader = topics[0]?.partitions.find((p) => p.partitionId === 0)?.leader
    if (leader === undefined || leader < 0) throw new Error(`partition 0 of ${topic} has no leader`)
    return leader
  } finally {
    await admin.disconnect()
  }
}

clusterContract(
  'kafka',
  () =>
    new KafkaTransport({
      brokers: kafkaClusterConnection.brokers,
      clientId: 'switchyard-cluster',
      replicationFactor: 3,
    }),
  {
    killLeader: async (topic) => {
      const leader = await partitionLeader(topic)
      await kafkaClusterBroker.killNode(leader)
      return String(leader)
    },
    restartNode: (node) => kafkaClusterBroker.startNode(Number(node)),
  },
  { timeScale: 10 },
)
