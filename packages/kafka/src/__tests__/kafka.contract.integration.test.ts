/**
 * The shared transport contract, run against the real Kafka started by `@switchyard/brokers`,
 * including the broker-restart scenario, once per Kafka client (kafkajs, @platformatic/kafka).
 */
import { kafkaConnection, restart } from '@switchyard/brokers'
import { type ContractScenarioGroup, transportContract } from '@switchyard/contract'
import { KafkaTransport } from '../kafka-transport.js'
import { announceSkippedClients, kafkaClients } from './kafka-clients.js'

announceSkippedClients('kafka.contract.integration.test.ts')

// A client this Node cannot run is not registered (announced above); npm test runs it on Node 22 and 24.
const platformaticScenarios: ContractScenarioGroup[] = [
  'delivery',
  'settlement',
  'errors',
  'publish batching',
  'capabilities',
  'bus policies',
  'lifecycle',
  'inspect',
  'request-reply',
  'idempotent consumers',
  'batch handlers',
  'cloudevents',
  'broker restart',
]

for (const { client, runs } of kafkaClients) {
  if (!runs) continue
  transportContract(
    `kafka (${client})`,
    () => new KafkaTransport({ brokers: kafkaConnection.brokers, clientId: 'switchyard-contract', client }),
    {
      // Open defect of the platformatic driver (README: "duplicates when a member joins"): in the
      // two-consumer group scenario 9–14 of 300 messages reached both members as first attempts
      // after the second one joined (3 of 4 runs, 2026-12-03: plaintext once on Node 24, over
      // SASL_SSL on Node 22 and 24). Its group scenarios are not claimed until that is fixed;
      // kafkajs runs every group.
      ...(client === 'platformatic' ? { scenarios: platformaticScenarios } : {}),
      restartBroker: async () => {
        await restart('kafka')
      },
      timeScale: 10,
      // Nothing listens on port 1 of the loopback address.
      unreachable: () =>
        new KafkaTransport({ brokers: ['127.0.0.1:1'], clientId: 'switchyard-contract', client }),
    },
  )
}
