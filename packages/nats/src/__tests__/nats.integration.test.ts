/**
 * NATS-specific behaviour beyond the contract suite, against the test server of the broker
 * manager: the wire mapping (subject, headers) as a plain NATS client sees it, `#` patterns in the
 * middle of a topic, `ordered` as `max_ack_pending` 1, a durable consumer deleted under a live
 * subscription, `deprovision` removing consumers and messages, and `inspect` (messages per
 * subject, group lag with deliveries in flight, filters, private consumers left out).
 */
import { jetstreamManager } from '@nats-io/jetstream'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { natsConnection, up } from '@switchyard/brokers'
import { type Collector, collect, createMessage, uniqueName, waitFor } from '@switchyard/contract'
import { type Delivery, type GroupInfo, SwitchyardHeaders } from '@switchyard/core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { durableName } from '../nats-message.js'
import { NatsTransport } from '../nats-transport.js'
import type { NatsTransportOptions } from '../options.js'

const prefix = 'adapter'
const open: NatsTransport[] = []
const collectors: Collector[] = []
const topics = new Set<string>()
let nc: NatsConnection

function transport(options: NatsTransportOptions = {}): NatsTransport {
  const t = new NatsTransport({ servers: natsConnection.servers, prefix, ...options })
  open.push(t)
  return t
}

function track(c: Collector): Collector {
  collectors.push(c)
  return c
}

const topicName = (name: string): string => {
  const topic = uniqueName(name)
  topics.add(topic)
  return topic
}

beforeAll(async () => {
  await up('nats')
  nc = await connect({ servers: natsConnection.servers })
}, 120_000)

afterAll(async () => {
  await nc?.close()
})

afterEach(async () => {
  for (const c of collectors.splice(0)) c.stop()
  await Promise.allSettled(open.splice(0).map((t) => t.close({ drain: false, timeoutMs: 2_000 })))
  const cleaner = new NatsTransport({ servers: natsConnection.servers, prefix })
  try {
    for (const topic of topics) await cleaner.deprovision(topic)
    topics.clear()
  } finally {
    await cleaner.close({ drain: false })
  }
})

describe('NatsTransport on NATS JetStream', () => {
  it('stores a topic as a subject of the prefix stream, with id, key and headers as NATS headers', async () => {
    const t = transport()
    const topic = topicName('nats.wire')
    await t.provision(topic, { groups: ['g'] })
    const sent = createMessage(topic, { key: 'k1', headers: { 'x-tenant': 'acme' }, payload: 'hello' })
    await t.publish([sent])
    const stored = await (await jetstreamManager(nc)).streams.getMessage(prefix, {
      last_by_subj: `${prefix}.${topic}`,
    })
    expect(stored?.subject).toBe(`${prefix}.${topic}`)
    expect(stored?.header.get(SwitchyardHeaders.messageId)).toBe(sent.id)
    expect(stored?.header.get(SwitchyardHeaders.key)).toBe('k1')
    expect(stored?.header.get('x-tenant')).toBe('acme')
    expect(new TextDecoder().decode(stored?.data)).toBe('hello')
  })

  it('routes a # in the middle of a pattern, for a group and a subscription without one', async () => {
    const t = transport()
    const p = topicName('nats.pat')
    const grouped = track(collect(t, `${p}.#.done`, { group: 'g' }))
    const ephemeral = track(collect(t, `${p}.#.done`))
    await Promise.all([grouped.ready, ephemeral.ready])
    const sent = [`${p}.done`, `${p}.x.y.done`, `${p}.a`, `${p}.done.a`].map((topic) => createMessage(topic))
    await t.publish(sent)
    for (const c of [grouped, ephemeral]) {
      await c.waitForIds(2)
      const sentinel = createMessage(`${p}.z.done`)
      await t.publish([sentinel])
      await c.waitForDelivery((d) => d.message.id === sentinel.id, 'the sentinel')
      expect(c.ids.has(sent[2]!.id) || c.ids.has(sent[3]!.id)).toBe(false)
      expect(c.ids.has(sent[0]!.id) && c.ids.has(sent[1]!.id)).toBe(true)
    }
  })

  it('gives an ordered subscription a group consumer with max_ack_pending 1', async () => {
    const t = transport()
    const topic = topicName('nats.ordered')
    await t.provision(topic, { groups: ['g'] })
    const jsm = await jetstreamManager(nc)
    expect((await jsm.consumers.info(prefix, durableName(topic, 'g'))).config.max_ack_pending).toBe(10_000)
    const c = track(collect(t, topic, { group: 'g', ordered: true }))
    await c.ready
    expect((await jsm.consumers.info(prefix, durableName(topic, 'g'))).config.max_ack_pending).toBe(1)
    const sent = Array.from({ length: 20 }, (_, i) => createMessage(topic, { key: `k${i % 3}` }))
    await t.publish(sent)
    await c.waitForIds(20)
    expect(c.deliveries.map((d) => d.message.id)).toEqual(sent.map((m) => m.id))
  })

  it('creates a group consumer deleted under a live subscription again and goes on', async () => {
    const t = transport()
    const topic = topicName('nats.deleted')
    const c = track(collect(t, topic, { group: 'g' }))
    await c.ready
    const jsm = await jetstreamManager(nc)
    await jsm.consumers.delete(prefix, durableName(topic, 'g'))
    await waitFor(
      async () => {
        try {
          await jsm.consumers.info(prefix, durableName(topic, 'g'))
          return true
        } catch {
          return false
        }
      },
      { timeoutMs: 30_000, description: 'the consumer created again' },
    )
    const after = createMessage(topic)
    await t.publish([after])
    await c.waitForDelivery(
      (d) => d.message.id === after.id,
      'a message published after the re-creation',
      30_000,
    )
  }, 60_000)

  it('deprovision without groups deletes the topic’s consumers and purges its messages only', async () => {
    const t = transport()
    const topic = topicName('nats.deprov')
    const other = topicName('nats.deprov-other')
    await t.provision(topic, { groups: ['a', 'b'] })
    await t.provision(other, { groups: ['a'] })
    await t.publish([createMessage(topic), createMessage(other)])
    await t.deprovision(topic)
    const jsm = await jetstreamManager(nc)
    const names: string[] = []
    for await (const info of jsm.consumers.list(prefix)) names.push(info.name)
    expect(names).not.toContain(durableName(topic, 'a'))
    expect(names).not.toContain(durableName(topic, 'b'))
    expect(names).toContain(durableName(other, 'a'))
    const left = await jsm.streams.getMessage(prefix, { last_by_subj: `${prefix}.${topic}` })
    expect(left).toBeNull()
    const kept = await jsm.streams.getMessage(prefix, { last_by_subj: `${prefix}.${other}` })
    expect(kept).not.toBeNull()
  })

  it('inspect: messages per topic, and per group what is undelivered plus what is delivered and unacked', async () => {
    const t = transport()
    const topic = topicName('nats.inspect')
    await t.provision(topic, { groups: ['workers', 'billing.v2'] })
    await t.publish(Array.from({ length: 10 }, () => createMessage(topic)))
    const group = (name: string, lag: number): GroupInfo => ({ group: name, topic, lag })
    expect(await t.inspect?.({ topic })).toEqual({
      topics: [{ name: topic, messages: 10 }],
      groups: [group('billing.v2', 10), group('workers', 10)],
      complete: true,
      at: expect.any(Number),
    })

    // A subscription without a group (a private consumer) is not a group.
    const tail = track(collect(t, topic))
    await tail.ready
    // Four in flight at a time; three acked, the others held or not yet delivered: 7 unsettled.
    let acking = false
    const c = track(
      collect(t, topic, {
        group: 'workers',
        inFlight: 4,
        settle: (d: Delivery) => (acking ? d.ack() : undefined),
      }),
    )
    await c.waitForDeliveries(4)
    await Promise.all(c.deliveries.slice(0, 3).map((d) => d.ack()))
    await c.waitForDeliveries(7)
    const jsm = await jetstreamManager(nc)
    const workers = await jsm.consumers.info(prefix, durableName(topic, 'workers'))
    expect(workers.num_ack_pending).toBeGreaterThanOrEqual(4)
    let seen: readonly GroupInfo[] | undefined
    await waitFor(
      async () => {
        seen = (await t.inspect?.({ topic }))?.groups
        return seen?.[1]?.lag === 7
      },
      { description: () => `workers' lag 7, saw ${JSON.stringify(seen)}` },
    )
    expect(seen).toEqual([group('billing.v2', 10), group('workers', 7)])

    acking = true
    await Promise.all(c.unsettled().map((d) => d.ack()))
    await c.waitForIds(10)
    await waitFor(
      async () => {
        seen = (await t.inspect?.({ topic, groups: ['workers'] }))?.groups
        return seen?.[0]?.lag === 0
      },
      { description: () => `workers' lag 0, saw ${JSON.stringify(seen)}` },
    )
    expect(seen).toEqual([group('workers', 0)])
  })

  it('inspect lists every topic and group of the prefix, reads group names back, and filters', async () => {
    const t = transport()
    const a = topicName('nats.inspect-a')
    const b = topicName('nats.inspect-b')
    await t.provision(a, { groups: ['my_group.v2'] })
    await t.provision(b, { groups: ['my_group.v2', 'audit'] })
    await t.publish([createMessage(a), createMessage(b), createMessage(b)])
    const ours = (name: string) => name === a || name === b

    const all = await t.inspect?.()
    expect(all?.complete).toBe(true)
    expect(all?.topics.filter((x) => ours(x.name))).toEqual([
      { name: a, messages: 1 },
      { name: b, messages: 2 },
    ])
    expect(all?.groups.filter((g) => ours(g.topic))).toEqual([
      { group: 'my_group.v2', topic: a, lag: 1 },
      { group: 'audit', topic: b, lag: 2 },
      { group: 'my_group.v2', topic: b, lag: 2 },
    ])

    const audit = await t.inspect?.({ groups: ['audit'] })
    expect(audit?.groups.filter((g) => ours(g.topic))).toEqual([{ group: 'audit', topic: b, lag: 2 }])
    expect(audit?.groups.every((g) => g.group === 'audit')).toBe(true)

    const missing = topicName('nats.inspect-missing')
    expect(await t.inspect?.({ topic: missing, groups: ['audit'] })).toMatchObject({
      topics: [],
      groups: [],
      complete: true,
    })
  })
})
