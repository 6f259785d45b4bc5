/**
 * The shared transport contract, run against the real Kafka started by `@switchyard/brokers`,
 * including the broker-restart scenario.
 */
import { kafkaConnection, restart } from '@switchyard/brokers'
import { transportContract } from '@switchyard/contract'
import { KafkaTransport } from '../kafka-transport.js'

transportContract(
  'kafka',
  () => new KafkaTransport({ brokers: kafkaConnection.brokers, clientId: 'switchyard-contract' }),
  {
    restartBroker: async () => {
      await restart('kafka')
    },
    timeScale: 10,
    // Nothing listens on port 1 of the loopback address.
    unreachable: () => new KafkaTransport({ brokers: ['127.0.0.1:1'], clientId: 'switchyard-contract' }),
  },
)
