/**
 * The shared transport contract, run against the real Kafka started by `@switchyard/brokers`,
 * including the broker-restart scenario, once per Kafka client (kafkajs, @platformatic/kafka).
 */
import { kafkaConnection, restart } from '@switchyard/brokers'
import { transportContract } from '@switchyard/contract'
import { KafkaTransport } from '../kafka-transport.js'
import { announceSkippedClients, kafkaClients } from './kafka-clients.js'

announceSkippedClients('kafka.contract.integration.test.ts')

// A client this Node cannot run is not registered (announced above); npm test runs it on Node 22 and 24.
for (const { client, runs } of kafkaClients) {
  if (!runs) continue
  transportContract(
    `kafka (${client})`,
    () => new KafkaTransport({ brokers: kafkaConnection.brokers, clientId: 'switchyard-contract', client }),
    {
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
