/**
 * Adapter tests beyond the contract suite, against the real Kafka of `@switchyard/brokers`:
 * contiguous commits with out-of-order acks, rebalancing while messages flow, lag in health(),
 * backpressure by pausing a partition whose backlog does not drain, delays held in process
 * (key held, commit point held), the `fromBeginning` default, a refused topic creation, oversized
 * messages and an unreachable broker. Every test runs once per Kafka client (kafkajs,
 * @platformatic/kafka); a client this Node cannot run is skipped with a notice on stderr.
 */
import { createServer } from 'node:net'
import {
  type Collector,
  collect,
  createMessage,
  expectSwitchyardError,
  payloadText,
  waitFor,
} from '@switchyard/contract'
import type { Delivery } from '@switchyard/core'
import { describe, expect, it } from 'vitest'
import type { KafkaTransport } from '../kafka-transport.js'
import type { KafkaTransportOptions } from '../options.js'
import { announceSkippedClients, kafkaClients } from './kafka-clients.js'
import { kafkaFixtures } from './kafka-fixtures.js'

announceSkippedClients('kafka.adapter.integration.test.ts')

const { transport: makeTransport, track, topicName, groupName } = kafkaFixtures('switchyard-kafka-test')

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

// A client this Node cannot run is not registered (announced on stderr); npm test runs it on Node 22 and 24.
for (const { client } of kafkaClients.filter((c) => c.runs))
  describe(`KafkaTransport (${client}) against real Kafka`, () => {
    const transport = (extra: Partial<KafkaTransportOptions> = {}): KafkaTransport =>
      makeTransport({ client, ...extra })
    /**
     * What `group` receives on a new transport up to a sentinel published there: the records the
     * group had not committed when its previous transport closed.
     */
    const receivedOnReopen = async (topic: string, group: string): Promise<string[]> => {
      const second = transport({ partitions: 1 })
      const again = track(collect(second, topic, { group, timeoutMs: 30_000 }))
      await again.ready
      const sentinel = createMessage(topic, { payload: 'sentinel' })
      await second.publish([sentinel])
      await again.waitForDelivery((d) => d.message.id === sentinel.id, 'the sentinel')
      return again.deliveries.map((d) => payloadText(d.message.payload))
    }

    it('close() right after 50 un-awaited publishes stores all of them, on a fresh and on a connected transport', async () => {
      const topic = topicName('kafka.flush')
      const group = groupName('g')
      const setup = transport()
      await setup.provision(topic, { groups: [group] })
      const fresh = transport()
      const connected = transport()
      await connected.connect()
      const messages = Array.from({ length: 100 }, () => createMessage(topic))
      const publishes = messages.map((m, i) => (i < 50 ? fresh : connected).publish([m]))
      await Promise.all([fresh.close(), connected.close()])
      const outcomes = await Promise.allSettled(publishes)
      expect(outcomes.filter((o) => o.status === 'rejected').map((o) => String(o.reason))).toEqual([])
      const c = track(collect(setup, topic, { group, timeoutMs: 30_000 }))
      await c.waitForIds(messages.length)
      expect(new Set(c.ids)).toEqual(new Set(messages.map((m) => m.id)))
    })

    it('round-trips key, headers, id and timestamp', async () => {
      const t = transport()
      const topic = topicName('kafka.smoke')
      const group = groupName('g')
      await t.provision(topic, { groups: [group] })
      const c = track(collect(t, topic, { group, timeoutMs: 30_000 }))
      await c.ready
      const m = createMessage(topic, { payload: 'hello', key: 'k1', headers: { 'x-a': 'b' } })
      await t.publish([m])
      await c.waitForIds(1)
      const got = c.deliveries[0] as Delivery
      expect(got.message.id).toBe(m.id)
      expect(got.message.key).toBe('k1')
      expect(got.message.headers).toEqual({ 'x-a': 'b' })
      expect(payloadText(got.message.payload)).toBe('hello')
      expect(got.message.timestamp).toBe(m.timestamp)
      expect(got.message.attempt).toBe(1)
    })

    it('pauses a partition whose backlog does not drain, then delivers all of it once, never above inFlight', async () => {
      // maxWaitTimeMs 20: a batch waits at most 20 ms for its backlog before the partition is paused;
      // handlers that take 2 ms each with inFlight 2 drain 400 records in about 400 ms.
      const t = transport({ partitions: 1, maxWaitTimeMs: 20 })
      const topic = topicName('kafka.pause')
      const group = groupName('g')
      await t.provision(topic, { groups: [group] })
      const messages = Array.from({ length: 400 }, (_, i) => createMessage(topic, { payload: `m${i}` }))
      await t.publish(messages)
      const seen = new Map<string, number>()
      let inFlight = 0
      let maxInFlight = 0
      const subscription = t.subscribe(topic, { group, inFlight: 2 }).subscribe((delivery) => {
        inFlight++
        maxInFlight = Math.max(maxInFlight, inFlight)
        seen.set(delivery.message.id, (seen.get(delivery.message.id) ?? 0) + 1)
        setTimeout(() => {
          inFlight--
          // Late acks may land after the test closed the transport: they are not what is tested.
          delivery.ack().catch(() => undefined)
        }, 2)
      })
      try {
        await waitFor(() => seen.size === 400, { timeoutMs: 30_000 })
        expect([...seen.values()].every((n) => n === 1)).toBe(true)
        expect(new Set(seen.keys())).toEqual(new Set(messages.map((m) => m.id)))
        expect(maxInFlight).toBe(2)
      } finally {
        subscription.unsubscribe()
      }
    })

    it('reports a refused topic creation as UnknownTopicError quoting Kafka and keeping its error', async () => {
      // One broker: a replication factor of 3 cannot be met, and retrying cannot change that.
      const t = transport({ replicationFactor: 3 })
      const error = await expectSwitchyardError(t.provision(topicName('kafka.refused')), 'UnknownTopicError')
      expect(error.message).toContain('Kafka said:')
      expect(error.cause).toBeInstanceOf(Error)
    })

    it('commits only the contiguous settled prefix: acks of 0, 2, 3 without 1 redeliver exactly 1, 2, 3', async () => {
      const topic = topicName('kafka.prefix')
      const group = groupName('g')
      const first = transport({ partitions: 1 })
      await first.provision(topic, { groups: [group] })
      const messages = [0, 1, 2, 3].map((i) => createMessage(topic, { payload: `m${i}` }))
      const held = track(collect(first, topic, { group, settle: 'hold', timeoutMs: 30_000 }))
      await held.ready
      await first.publish(messages)
      await held.waitForIds(4)
      const byText = new Map(held.deliveries.map((d) => [payloadText(d.message.payload), d]))
      await Promise.all(['m0', 'm2', 'm3'].map((text) => byText.get(text)?.ack()))
      await first.close({ drain: false })

      expect(await receivedOnReopen(topic, group)).toEqual(['m1', 'm2', 'm3', 'sentinel'])
    })

    it('loses nothing and keeps per-key order while a second consumer joins and the first leaves', async () => {
      const topic = topicName('kafka.rebalance')
      const group = groupName('g')
      const keys = Array.from({ length: 12 }, (_, i) => `key-${i}`)
      const publisher = transport()
      await publisher.provision(topic, { groups: [group] })
      const slowAck = (d: Delivery): void => {
        setTimeout(() => void d.ack().catch(() => undefined), Math.floor(Math.random() * 3))
      }
      const a = track(
        collect(transport(), topic, { group, inFlight: 16, settle: slowAck, timeoutMs: 60_000 }),
      )
      await a.ready

      const total = 2_400
      const sent: string[] = []
      let b: Collector | undefined
      for (let batch = 0; batch < 24; batch++) {
        const messages = Array.from({ length: total / 24 }, (_, i) => {
          const n = batch * (total / 24) + i
          const key = keys[n % keys.length] as string
          return createMessage(topic, { key, payload: `${key}:${n}` })
        })
        await publisher.publish(messages)
        sent.push(...messages.map((m) => m.id))
        if (batch === 6) {
          b = track(collect(transport(), topic, { group, inFlight: 16, settle: slowAck, timeoutMs: 60_000 }))
          await b.ready
        }
        if (batch === 14) a.stop()
        await waitFor(() => a.ids.size + (b?.ids.size ?? 0) >= sent.length * 0.5, { timeoutMs: 30_000 })
      }
      const second = b as Collector
      await waitFor(() => sent.every((id) => a.ids.has(id) || second.ids.has(id)), { timeoutMs: 60_000 })

      for (const c of [a, second]) {
        const last = new Map<string, number>()
        for (const d of c.deliveries) {
          const [key, n] = payloadText(d.message.payload).split(':')
          const previous = last.get(key as string) ?? -1
          expect(Number(n)).toBeGreaterThan(previous)
          last.set(key as string, Number(n))
        }
      }
      expect(second.ids.size).toBeGreaterThan(0)
      expect(a.ids.size).toBeGreaterThan(0)
      expect(new Set([...a.ids, ...second.ids]).size).toBe(total)
    })

    it('holds a nack with delayMs in process: the key waits for it, other keys flow, then it comes back as attempt 2', async () => {
      const t = transport({ partitions: 1 })
      const topic = topicName('kafka.delay')
      const group = groupName('g')
      await t.provision(topic, { groups: [group] })
      let nackedAt = 0
      const c = track(
        collect(t, topic, {
          group,
          timeoutMs: 30_000,
          settle: (d) => {
            if (payloadText(d.message.payload) !== 'a0' || d.message.attempt > 1) return d.ack()
            nackedAt = Date.now()
            return d.nack({ delayMs: 400 })
          },
        }),
      )
      await c.ready
      await t.publish([
        createMessage(topic, { key: 'a', payload: 'a0' }),
        createMessage(topic, { key: 'a', payload: 'a1' }),
        createMessage(topic, { key: 'b', payload: 'b0' }),
      ])
      await c.waitForDeliveries(4)
      const seen = c.deliveries.map((d) => `${payloadText(d.message.payload)}#${d.message.attempt}`)
      expect(seen).toEqual(['a0#1', 'b0#1', 'a0#2', 'a1#1'])
      expect(Date.now() - nackedAt).toBeGreaterThanOrEqual(390)
    })

    it('commits no offset past a record held for a delay: closed meanwhile, the group gets it and what followed again', async () => {
      const topic = topicName('kafka.delay-commit')
      const group = groupName('g')
      const first = transport({ partitions: 1, commitIntervalMs: 20 })
      await first.provision(topic, { groups: [group] })
      const c = track(
        collect(first, topic, {
          group,
          timeoutMs: 30_000,
          settle: (d) => (payloadText(d.message.payload) === 'm0' ? d.nack({ delayMs: 60_000 }) : d.ack()),
        }),
      )
      await c.ready
      const messages = [0, 1, 2].map((i) => createMessage(topic, { key: `k${i}`, payload: `m${i}` }))
      await first.publish(messages)
      await c.waitForIds(3)
      await first.close({ drain: false })

      expect(await receivedOnReopen(topic, group)).toEqual(['m0', 'm1', 'm2', 'sentinel'])
    })

    it('gives a group that does not set fromBeginning the transport default, and lets it say false', async () => {
      const topic = topicName('kafka.from-beginning')
      const t = transport({ fromBeginning: true, partitions: 1 })
      await t.provision(topic)
      const old = createMessage(topic, { payload: 'old' })
      await t.publish([old])
      const byDefault = track(collect(t, topic, { group: groupName('g'), timeoutMs: 30_000 }))
      const refused = track(
        collect(t, topic, { group: groupName('g'), fromBeginning: false, timeoutMs: 30_000 }),
      )
      await Promise.all([byDefault.ready, refused.ready])
      await byDefault.waitForIds(1)
      const sentinel = createMessage(topic, { payload: 'sentinel' })
      await t.publish([sentinel])
      await refused.waitForDelivery((d) => d.message.id === sentinel.id, 'the sentinel')
      expect([...byDefault.ids][0]).toBe(old.id)
      expect([...refused.ids]).toEqual([sentinel.id])
    })

    it('reports consumer lag per partition in health()', async () => {
      const t = transport({ partitions: 1 })
      const topic = topicName('kafka.lag')
      const group = groupName('g')
      await t.provision(topic, { groups: [group] })
      const c = track(collect(t, topic, { group, inFlight: 2, settle: 'hold', timeoutMs: 30_000 }))
      await c.ready
      await t.publish([0, 1, 2, 3, 4].map((i) => createMessage(topic, { payload: `m${i}` })))
      await c.waitForDeliveries(2)
      const before = await t.health()
      expect(before.status).toBe('up')
      const sub = before.subscriptions.find((s) => s.topic === topic)
      expect(sub).toMatchObject({ group, inFlight: 2, lag: 5, partitions: [{ partition: 0, lag: 5 }] })
      await Promise.all(c.deliveries.slice(0, 2).map((d) => d.ack()))
      await waitFor(async () => (await t.health()).subscriptions.find((s) => s.topic === topic)?.lag === 3, {
        timeoutMs: 15_000,
      })
    })

    it('rejects an oversized message with MessageTooLargeError and publishes nothing of its batch', async () => {
      const t = transport()
      await t.connect()
      const limit = t.capabilities.maxMessageBytes as number
      expect(limit).toBeGreaterThan(1_000_000)
      const topic = topicName('kafka.large')
      const group = groupName('g')
      await t.provision(topic, { groups: [group] })
      const c = track(collect(t, topic, { group, timeoutMs: 30_000 }))
      await c.ready
      const small = createMessage(topic, { payload: 'small' })
      const huge = createMessage(topic, { payload: new Uint8Array(limit + 1) })
      await expectSwitchyardError(t.publish([small, huge]), 'MessageTooLargeError')
      const sentinel = createMessage(topic, { payload: 'sentinel' })
      await t.publish([sentinel])
      await c.waitForDelivery((d) => d.message.id === sentinel.id, 'the sentinel')
      expect([...c.ids]).toEqual([sentinel.id])
    })

    it('fails connect and publish with BrokerUnavailableError when nothing listens, without hanging', async () => {
      const port = await freePort()
      const t = transport({ brokers: [`127.0.0.1:${port}`], retry: { retries: 2, initialRetryTime: 100 } })
      const started = Date.now()
      await expectSwitchyardError(t.connect(), 'BrokerUnavailableError')
      await expectSwitchyardError(
        t.publish([createMessage('kafka.nowhere', { payload: 'x' })]),
        'BrokerUnavailableError',
      )
      // Each waits for the core's connect timeout, which is connectionTimeoutMs (3 s by default).
      expect(Date.now() - started).toBeLessThan(8_000)
      // The core keeps retrying with backoff: reconnecting, with the probe's error.
      const health = await t.health()
      expect(health).toMatchObject({ status: 'degraded', state: 'reconnecting' })
      expect(health.error).toContain('no broker accepted a TCP connection')
    })
  })
