/**
 * The cluster fault scenarios on a three-node RabbitMQ cluster started by `@switchyard/brokers` for
 * this file and stopped after it: group queues are quorum queues, the transport knows all three
 * nodes (`addresses`), and the node leading the group's queue is killed with `kill -9` mid-stream.
 *
 * The same node is also cut off the network (this file runs in a private network namespace: the
 * `cluster` project; during the cut the queue's leader is asked of a node on the healthy side).
 * That scenario was opt-in for a while: in a clean-clone run on 2026-12-06 no publish completed or
 * failed for 420 s after the cut. A publish then awaited its confirms without bound; a channel that
 * stops confirming is now closed after `confirmTimeoutMs` and its messages re-sent.
 */
import { down, rabbitmqClusterBroker, rabbitmqClusterConnection, up } from '@switchyard/brokers'
import { clusterContract } from '@switchyard/contract'
import { afterAll, beforeAll } from 'vitest'
import { RabbitMqTransport } from '../rabbitmq-transport.js'

beforeAll(() => up('rabbitmq-cluster'), 240_000)
afterAll(() => down('rabbitmq-cluster'), 120_000)

const { host, nodeIds } = rabbitmqClusterConnection

clusterContract(
  'rabbitmq',
  () =>
    new RabbitMqTransport({
      url: rabbitmqClusterConnection.url(1),
      addresses: nodeIds.slice(1).map((id) => `${host}:${rabbitmqClusterConnection.port(id)}`),
      connectionName: 'switchyard-cluster',
      // A node cut off the network goes silent (no reset): missed heartbeats are how the client
      // notices, so a cluster deployment wants them more often than the 30 s default.
      heartbeatSeconds: 5,
      queueDefaults: { quorum: true },
    }),
  {
    killLeader: async (topic, group) => {
      const leader = await rabbitmqClusterBroker.queueLeader(`switchyard:${topic}:${group}`)
      await rabbitmqClusterBroker.killNode(leader)
      return String(leader)
    },
    restartNode: (node) => rabbitmqClusterBroker.startNode(Number(node)),
    cutLeader: async (topic: string, group: string): Promise<string> => {
      const leader = await rabbitmqClusterBroker.queueLeader(`switchyard:${topic}:${group}`)
      await rabbitmqClusterBroker.cutNode(leader)
      return String(leader)
    },
    healCut: () => rabbitmqClusterBroker.healCut(),
    leaders: async (topic: string, group: string, cut: string): Promise<string[]> => {
      const healthy = nodeIds.find((id) => String(id) !== cut) as number
      return [String(await rabbitmqClusterBroker.queueLeader(`switchyard:${topic}:${group}`, healthy))]
    },
  },
  { timeScale: 10 },
)
