/**
 * NATS-specific behaviour beyond the contract suite, against the test server of the broker
 * manager: the wire mapping (subject, headers) as a plain NATS client sees it, `#` patterns in the
 * middle of a topic, `ordered` as `max_ack_pending` 1, a durable consumer deleted under a live
 * subscription, and `deprovision` removing consumers and messages.
 */
import { jetstreamManager } from '@nats-io/jetstream'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { natsConnection, up } from '@switchyard/brokers'
import { type Collector, collect, createMessage, uniqueName, waitFor } from '@switchyard/contract'
import { SwitchyardHeaders } from '@switchyard/core'
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
})
