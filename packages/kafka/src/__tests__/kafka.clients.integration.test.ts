/**
 * What holds between the two Kafka clients, against the real Kafka of `@switchyard/brokers`: the
 * same key lands on the same partition under kafkajs and @platformatic/kafka, and the KIP-848
 * `consumer` group protocol (platformatic only) forms a consumer-type group whose members compete
 * without losing a message. On a Node that cannot run @platformatic/kafka only the kafkajs side's
 * refusal of KIP-848 runs here, with a notice; npm test runs the rest on Node 22 and 24.
 */
import { kafkaConnection } from '@switchyard/brokers'
import { type Collector, collect, createMessage, payloadText, waitFor } from '@switchyard/contract'
import type { Transport } from '@switchyard/core'
import { describe, expect, it } from 'vitest'
import { KafkaTransport } from '../kafka-transport.js'
import { loadPlatformatic, supportsPlatformatic } from '../platformatic-client.js'
import { announceSkippedClients } from './kafka-clients.js'
import { kafkaFixtures } from './kafka-fixtures.js'

announceSkippedClients('kafka.clients.integration.test.ts')

const { transport, track, topicName, groupName } = kafkaFixtures('switchyard-clients-test')

/**
 * Publishes rounds of 30 records (keys `k0`…`k29`, payloads `m0`, `m1`, … in publish order) until
 * both members of a group received one, then checks that every record reached one of them.
 */
async function shareWithoutLoss(
  publisher: Transport,
  topic: string,
  [a, b]: readonly [Collector, Collector],
  timeoutMs: number,
): Promise<void> {
  const sent: string[] = []
  let n = 0
  await waitFor(
    async () => {
      const batch = Array.from({ length: 30 }, () => {
        const i = n++
        return createMessage(topic, { key: `k${i % 30}`, payload: `m${i}` })
      })
      await publisher.publish(batch)
      sent.push(...batch.map((m) => m.id))
      return a.ids.size > 0 && b.ids.size > 0
    },
    { timeoutMs, intervalMs: 200, description: 'a delivery to each member' },
  )
  await waitFor(() => sent.every((id) => a.ids.has(id) || b.ids.has(id)), { timeoutMs: 30_000 })
  expect(new Set([...a.ids, ...b.ids]).size).toBe(sent.length)
}

describe('the consumer group protocol by client', () => {
  it('kafkajs refuses groupProtocol consumer (KIP-848) with a ConfigError naming the field', () => {
    let error: unknown
    try {
      new KafkaTransport({ brokers: kafkaConnection.brokers, groupProtocol: 'consumer' })
    } catch (e) {
      error = e
    }
    expect((error as Error | undefined)?.name).toBe('ConfigError')
    expect((error as Error).message).toContain('groupProtocol')
  })
})

// Registered only where @platformatic/kafka runs (Node 22/24 in npm test); announced on stderr otherwise.
if (supportsPlatformatic(process.versions.node))
  describe('kafkajs and @platformatic/kafka together', () => {
    it('puts the same key on the same partition under both clients', async () => {
      const topic = topicName('kafka.partitioner')
      const keys = Array.from({ length: 60 }, (_, i) => `key-${i}-${i * 7919}`)
      const viaKafkajs = transport({ client: 'kafkajs', partitions: 6 })
      const viaPlatformatic = transport({ client: 'platformatic', partitions: 6 })
      await viaKafkajs.provision(topic)
      await viaKafkajs.publish(keys.map((key) => createMessage(topic, { key, payload: `kafkajs:${key}` })))
      await viaPlatformatic.publish(
        keys.map((key) => createMessage(topic, { key, payload: `platformatic:${key}` })),
      )

      // Read the partition of every record with the raw kafkajs consumer (the transport's escape hatch).
      const seen = new Map<string, Set<number>>()
      const byClient = new Map<string, number>()
      const consumer = viaKafkajs.client.consumer({ groupId: groupName('g') })
      await consumer.connect()
      try {
        await consumer.subscribe({ topics: [topic], fromBeginning: true })
        await consumer.run({
          eachMessage: async ({ partition, message }) => {
            const key = message.key?.toString() as string
            const set = seen.get(key) ?? new Set<number>()
            set.add(partition)
            seen.set(key, set)
            const who = (message.value?.toString() ?? '').split(':')[0] as string
            byClient.set(who, (byClient.get(who) ?? 0) + 1)
          },
        })
        await waitFor(() => (byClient.get('kafkajs') ?? 0) + (byClient.get('platformatic') ?? 0) === 120, {
          timeoutMs: 30_000,
        })
      } finally {
        await consumer.disconnect()
      }
      expect(Object.fromEntries(byClient)).toEqual({ kafkajs: 60, platformatic: 60 })
      const split = [...seen].filter(([, partitions]) => partitions.size !== 1).map(([key]) => key)
      expect(split).toEqual([])
      // The keys spread over the partitions: a partitioner that sent everything to one would pass the above.
      expect(new Set([...seen.values()].map((p) => [...p][0])).size).toBeGreaterThan(3)
    })

    it('lets a kafkajs member and a platformatic member share one classic group, nothing lost', async () => {
      const topic = topicName('kafka.mixed')
      const group = groupName('g')
      const publisher = transport({ client: 'kafkajs' })
      await publisher.provision(topic, { groups: [group] })
      const a = collect(transport({ client: 'kafkajs' }), topic, { group, timeoutMs: 60_000 })
      await a.ready
      const b = collect(transport({ client: 'platformatic' }), topic, { group, timeoutMs: 60_000 })
      track(a, b)
      await b.ready
      // The rebalance that adds b takes a moment.
      await shareWithoutLoss(publisher, topic, [a, b], 30_000)
    })

    it('runs a KIP-848 (groupProtocol consumer) group: a consumer-type group whose members compete, nothing lost', async () => {
      const topic = topicName('kafka.kip848')
      const group = groupName('g')
      const options = { client: 'platformatic', groupProtocol: 'consumer' } as const
      const publisher = transport({ client: 'platformatic' })
      await publisher.provision(topic, { groups: [group] })
      const a = collect(transport(options), topic, { group, timeoutMs: 60_000 })
      const b = collect(transport(options), topic, { group, timeoutMs: 60_000 })
      track(a, b)
      await Promise.all([a.ready, b.ready])

      const lib = loadPlatformatic()
      const admin = new lib.Admin({
        clientId: 'switchyard-clients-test',
        bootstrapBrokers: kafkaConnection.brokers,
      })
      try {
        // The broker lists the group as a KIP-848 (`consumer` type) group, not a classic one.
        await waitFor(async () => (await admin.listGroups({ types: ['consumer'] })).has(group), {
          timeoutMs: 30_000,
          intervalMs: 200,
          description: `group ${group} listed with type consumer`,
        })
      } finally {
        await admin.close()
      }
      // The broker assigns incrementally.
      await shareWithoutLoss(publisher, topic, [a, b], 60_000)
      // Per-key order within each member.
      for (const c of [a, b]) {
        const order = c.deliveries.map((d) => Number(payloadText(d.message.payload).slice(1)))
        const byKey = new Map<number, number[]>()
        for (const n of order) byKey.set(n % 30, [...(byKey.get(n % 30) ?? []), n])
        for (const list of byKey.values()) expect(list).toEqual([...list].sort((x, y) => x - y))
      }
    })
  })
