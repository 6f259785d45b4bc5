/**
 * What a Kafka integration test file creates, cleaned up after each test: transports (closed),
 * collectors (stopped), and the topics and groups a test named (deleted with their records and
 * offsets, so runs leave nothing on the broker).
 */
import { kafkaConnection } from '@switchyard/brokers'
import { type Collector, uniqueName } from '@switchyard/contract'
import type { Transport } from '@switchyard/core'
import { afterEach } from 'vitest'
import { KafkaTransport } from '../kafka-transport.js'
import type { KafkaTransportOptions } from '../options.js'

export interface KafkaFixtures {
  /** A transport on the test broker, closed after the test. */
  transport(options?: Partial<KafkaTransportOptions>): KafkaTransport
  /** Stops these collectors after the test; returns the first. */
  track(first: Collector, ...more: Collector[]): Collector
  /** A unique topic name, deleted after the test. */
  topicName(prefix: string): string
  /** A unique group name, deleted after the test. */
  groupName(prefix: string): string
}

/** Registers the cleanup as an `afterEach` of the calling file; `clientId` names its clients. */
export function kafkaFixtures(clientId: string): KafkaFixtures {
  const opened: Transport[] = []
  const collectors: Collector[] = []
  const topics = new Set<string>()
  const groups = new Set<string>()
  const named = (set: Set<string>, prefix: string): string => {
    const name = uniqueName(prefix)
    set.add(name)
    return name
  }

  afterEach(async () => {
    for (const c of collectors.splice(0)) c.stop()
    await Promise.all(opened.splice(0).map((t) => t.close({ drain: false })))
    const names = [...topics]
    const members = [...groups]
    topics.clear()
    groups.clear()
    if (names.length === 0) return
    const cleaner = new KafkaTransport({ brokers: kafkaConnection.brokers, clientId })
    try {
      for (const topic of names) await cleaner.deprovision(topic, { groups: members })
    } finally {
      await cleaner.close({ drain: false })
    }
  })

  return {
    transport: (options = {}) => {
      const t = new KafkaTransport({ brokers: kafkaConnection.brokers, clientId, ...options })
      opened.push(t)
      return t
    },
    track: (first, ...more) => {
      collectors.push(first, ...more)
      return first
    },
    topicName: (prefix) => named(topics, prefix),
    groupName: (prefix) => named(groups, prefix),
  }
}
