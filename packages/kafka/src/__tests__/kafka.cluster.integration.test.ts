/**
 * The cluster fault scenarios on a three-node Kafka cluster (replication factor 3,
 * `min.insync.replicas=2`) started by `@switchyard/brokers` for this file and stopped after it:
 * the leader of the topic's first partition is killed with `kill -9` mid-stream, and in a second
 * run cut off the network (this file runs in a private network namespace: the `cluster` project).
 */
import { down, kafkaClusterBroker, kafkaClusterConnection, up } from '@switchyard/brokers'
import { clusterContract } from '@switchyard/contract'
import { Kafka, logLevel } from 'kafkajs'
import { afterAll, beforeAll } from 'vitest'
import { KafkaTransport } from '../kafka-transport.js'

beforeAll(() => up('kafka-cluster'), 240_000)
afterAll(() => down('kafka-cluster'), 120_000)

/** The leader of each partition of `topic` (by partition id), asked of `brokers`. */
async function partitionLeaders(
  topic: string,
  brokers: string[] = kafkaClusterConnection.brokers,
): Promise<number[]> {
  const admin = new Kafka({
    clientId: 'switchyard-cluster-test',
    brokers,
    logLevel: logLevel.NOTHING,
  }).admin()
  await admin.connect()
  try {
    const { topics } = await admin.fetchTopicMetadata({ topics: [topic] })
    const partitions = [...(topics[0]?.partitions ?? [])].sort((a, b) => a.partitionId - b.partitionId)
    return partitions.map((p) => p.leader)
  } finally {
    await admin.disconnect()
  }
}

/** The node id leading partition 0 of `topic`. */
async function partitionLeader(topic: string): Promise<number> {
  const leader = (await partitionLeaders(topic))[0]
  if (leader === undefined || leader < 0) throw new Error(`partition 0 of ${topic} has no leader`)
  return leader
}

clusterContract(
  'kafka',
  () =>
    new KafkaTransport({
      brokers: kafkaClusterConnection.brokers,
      clientId: 'switchyard-cluster',
      replicationFactor: 3,
      // A node cut off the network goes silent (no reset): its requests end by timing out, so a
      // cluster deployment wants that sooner than the 30 s default.
      requestTimeoutMs: 10_000,
    }),
  {
    killLeader: async (topic) => {
      const leader = await partitionLeader(topic)
      await kafkaClusterBroker.killNode(leader)
      return String(leader)
    },
    restartNode: (node) => kafkaClusterBroker.startNode(Number(node)),
    cutLeader: async (topic) => {
      const leader = await partitionLeader(topic)
      await kafkaClusterBroker.cutNode(leader)
      return String(leader)
    },
    healCut: () => kafkaClusterBroker.healCut(),
    leaders: async (topic, _group, cut) => {
      const healthy = kafkaClusterConnection.nodeIds.filter((id) => String(id) !== cut)
      const leaders = await partitionLeaders(
        topic,
        healthy.map((id) => `${kafkaClusterConnection.host}:${kafkaClusterConnection.port(id)}`),
      )
      return leaders.map(String)
    },
  },
  { timeScale: 10 },
)
