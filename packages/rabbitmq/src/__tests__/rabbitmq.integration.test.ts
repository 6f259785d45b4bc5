/**
 * RabbitMQ-specific behaviour beyond the contract suite, against the real test broker: pattern
 * bindings, per-group priority queues, single-active-consumer order and failover, dead letters
 * kept for a later consumer, delayed redelivery to one group only, `mandatory`, refused
 * credentials, and a queue deleted under a live consumer.
 */
import { rabbitmqConnection, rabbitmqctl, up } from '@switchyard/brokers'
import {
  type Collector,
  collect,
  createMessage,
  expectSwitchyardError,
  payloadText,
  uniqueName,
  waitFor,
} from '@switchyard/contract'
import { Bus, type BusEvent, SwitchyardHeaders, type Transport, type TransportStatus } from '@switchyard/core'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { RabbitMqTransportOptions } from '../options.js'
import { RabbitMqTransport } from '../rabbitmq-transport.js'

const open: { close(): Promise<void> }[] = []
const collectors: Collector[] = []

function transport(options: RabbitMqTransportOptions = {}): RabbitMqTransport {
  const t = new RabbitMqTransport({ url: rabbitmqConnection.url, ...options })
  open.push({ close: () => t.close({ drain: false, timeoutMs: 2_000 }) })
  return t
}

function track(c: Collector): Collector {
  collectors.push(c)
  return c
}

beforeAll(async () => {
  await up('rabbitmq')
}, 120_000)

/** Topics and groups the tests name: their queues are deleted after each test. */
const topics = new Set<string>()
const groups = new Set(['star', 'ordered', 'billing', 'dlq', 'slow', 'other', 'g'])
const topicName = (prefix: string): string => {
  const name = uniqueName(prefix)
  topics.add(name)
  return name
}
const groupName = (prefix: string): string => {
  const name = uniqueName(prefix)
  groups.add(name)
  return name
}

afterEach(async () => {
  for (const c of collectors.splice(0)) c.stop()
  await Promise.allSettled(open.splice(0).map((o) => o.close()))
  const names = [...topics].flatMap((topic) => [topic, `${topic}.dlq`, `${topic}.*`])
  topics.clear()
  if (names.length === 0) return
  const cleaner = new RabbitMqTransport({ url: rabbitmqConnection.url })
  try {
    for (const name of names) await cleaner.deprovision(name, { groups: [...groups] })
  } finally {
    await cleaner.close({ drain: false })
  }
})

describe('RabbitMqTransport on RabbitMQ', () => {
  it('close() right after 50 un-awaited publishes of a never-connected transport stores all of them', async () => {
    const topic = topicName('rmq.flush')
    const setup = transport()
    await setup.provision(topic, { groups: ['g'] })
    const fresh = transport()
    const messages = Array.from({ length: 50 }, () => createMessage(topic))
    const publishes = messages.map((m) => fresh.publish([m]))
    await fresh.close()
    const outcomes = await Promise.allSettled(publishes)
    expect(outcomes.filter((o) => o.status === 'rejected').map((o) => String(o.reason))).toEqual([])
    const c = track(collect(setup, topic, { group: 'g' }))
    await c.waitForIds(messages.length)
    expect(new Set(c.ids)).toEqual(new Set(messages.map((m) => m.id)))
  })

  it('keeps call order across several confirm windows in flight: 2,000 concurrent publishes arrive in order', async () => {
    const topic = topicName('rmq.windows')
    const consumer = transport()
    const c = track(collect(consumer, topic, { group: 'ordered', ordered: true, inFlight: 64 }))
    await c.ready
    // Windows of at most 100 messages, four in flight: 20 windows, most written before the first confirm.
    const producer = new RabbitMqTransport(
      { url: rabbitmqConnection.url, confirmWindows: 4 },
      { maxBatchMessages: 100 },
    )
    open.push({ close: () => producer.close({ drain: false, timeoutMs: 2_000 }) })
    const messages = Array.from({ length: 2_000 }, (_, i) =>
      createMessage(topic, { key: `k${i % 3}`, payload: `${i}` }),
    )
    await Promise.all(messages.map((m) => producer.publish([m])))
    await c.waitForIds(messages.length, 30_000)
    expect(c.deliveries.map((d) => payloadText(d.message.payload))).toEqual(
      messages.map((m) => payloadText(m.payload)),
    )
  })

  it('fails exactly the calls of the confirm window the broker nacked; the window beside it succeeds', async () => {
    const topic = topicName('rmq.nack')
    const group = groupName('full')
    // A queue that refuses (nacks) every message beyond its first.
    const producer = transport({
      confirmWindows: 2,
      groups: { [group]: { maxLength: 1, overflow: 'reject-publish' } },
    })
    await producer.provision(topic, { groups: [group] })
    const [first, second] = [
      createMessage(topic, { payload: 'kept' }),
      createMessage(topic, { payload: 'refused' }),
    ]
    // Both calls go out at once, each as its own window (nothing else is in flight).
    const kept = producer.publish([first])
    const refused = expectSwitchyardError(producer.publish([second]), 'PublishError')
    await kept
    await refused
    const c = track(collect(producer, topic, { group }))
    await c.waitForIds(1)
    expect(c.deliveries.map((d) => payloadText(d.message.payload))).toEqual(['kept'])
  })

  it('gives up on a channel that stops confirming: re-sends on fresh ones, rejects past publishWaitMs, loses nothing', async () => {
    const topic = topicName('rmq.stuck')
    const producer = transport({ confirmTimeoutMs: 1_000, publishWaitMs: 6_000 })
    await producer.provision(topic, { groups: ['g'] })
    // The group queue's process is suspended: the broker takes the message and never confirms it,
    // while the connection and the channel stay up (what a quorum queue whose leader was cut off
    // the network did to the channel of a healthy node).
    const queue = `rabbit_misc:r(<<"${rabbitmqConnection.vhost}">>, queue, <<"${producer.naming.groupQueue(topic, 'g')}">>)`
    const queueProcess = (call: 'suspend' | 'resume'): Promise<string> =>
      rabbitmqctl(['eval', `{ok, Q} = rabbit_amqqueue:lookup(${queue}), sys:${call}(amqqueue:get_pid(Q)).`])
    const stuck = createMessage(topic, { payload: 'stuck' })
    // While it waits, the event loop must keep running (the heartbeats that notice a dead
    // connection are timers): the longest gap between ticks of a 50 ms interval is recorded.
    let longestGap = 0
    let last = Date.now()
    const ticks = setInterval(() => {
      const now = Date.now()
      longestGap = Math.max(longestGap, now - last)
      last = now
    }, 50)
    await queueProcess('suspend')
    try {
      const error = await expectSwitchyardError(producer.publish([stuck]), 'BrokerUnavailableError')
      expect(error.retryable).toBe(true)
      expect(error.message).toContain('publishWaitMs')
    } finally {
      clearInterval(ticks)
      await queueProcess('resume')
    }
    // Re-sending must not hold the event loop (on a cluster, a re-send loop made of promise
    // callbacks alone delayed the heartbeat timeout by a minute); a bound, not a speed target.
    expect(longestGap).toBeLessThan(2_500)
    // The transport publishes again on a fresh channel, and the rejected message was not lost: the
    // broker had taken it (once per re-send: duplicates, as documented).
    const after = createMessage(topic, { payload: 'after' })
    await producer.publish([after])
    const c = track(collect(producer, topic, { group: 'g' }))
    await c.waitForIds(2)
    expect(new Set(c.ids)).toEqual(new Set([stuck.id, after.id]))
  })

  it('routes pattern subscriptions through binding keys, for groups and ephemeral subscribers', async () => {
    const t = transport()
    const p = topicName('rmq.pat')
    const star = track(collect(t, `${p}.*`, { group: 'star' }))
    const hash = track(collect(t, `${p}.#.done`))
    await Promise.all([star.ready, hash.ready])
    const sent = [`${p}.a`, `${p}.a.b`, `${p}.done`, `${p}.x.y.done`].map((topic) => createMessage(topic))
    await t.publish(sent)
    await star.waitForIds(2)
    await hash.waitForIds(2)
    expect([...star.ids].sort()).toEqual([sent[0]!.id, sent[2]!.id].sort())
    expect([...hash.ids].sort()).toEqual([sent[2]!.id, sent[3]!.id].sort())
    expect(star.deliveries.map((d) => d.message.topic).sort()).toEqual([`${p}.a`, `${p}.done`])
  })

  it('delivers a backlog by priority on a group configured with maxPriority', async () => {
    const group = groupName('prio')
    const t = transport({ groups: { [group]: { maxPriority: 9 } } })
    const topic = topicName('rmq.prio')
    await t.provision(topic, { groups: [group] })
    const priorities = [1, 9, 0, 5, 9, 3]
    const sent = priorities.map((priority, i) =>
      createMessage(topic, { priority, payload: `${priority}:${i}` }),
    )
    await t.publish(sent)
    const c = track(collect(t, topic, { group, inFlight: 1 }))
    await c.waitForIds(sent.length)
    expect(c.deliveries.map((d) => payloadText(d.message.payload))).toEqual([
      '9:1',
      '9:4',
      '5:3',
      '3:5',
      '1:0',
      '0:2',
    ])
  })

  it('keeps publish order with a single active consumer and fails over to the standby', async () => {
    const topic = topicName('rmq.sac')
    const group = 'ordered'
    const [a, b, producer] = [transport(), transport(), transport()]
    const first = track(collect(a, topic, { group, ordered: true, inFlight: 16 }))
    await first.ready
    const second = track(collect(b, topic, { group, ordered: true, inFlight: 16 }))
    await second.ready
    const batch1 = Array.from({ length: 200 }, (_, i) =>
      createMessage(topic, { key: `k${i % 7}`, payload: `${i}` }),
    )
    await producer.publish(batch1)
    await first.waitForIds(200)
    expect(second.deliveries).toHaveLength(0)
    await a.close({ drain: true, timeoutMs: 5_000 })
    const batch2 = Array.from({ length: 100 }, (_, i) => createMessage(topic, { payload: `${200 + i}` }))
    await producer.publish(batch2)
    await second.waitForIds(100, 15_000)
    expect(first.deliveries.map((d) => payloadText(d.message.payload))).toEqual(
      batch1.map((m) => payloadText(m.payload)),
    )
    expect(second.deliveries.map((d) => payloadText(d.message.payload))).toEqual(
      batch2.map((m) => payloadText(m.payload)),
    )
  })

  it('keeps dead letters of a Bus handler for a consumer that comes later, with their headers', async () => {
    const t = transport()
    const topic = topicName('rmq.dlq')
    const bus = new Bus(t)
    const handler = bus.handle(
      topic,
      { group: 'billing', retry: { attempts: 2, initialDelayMs: 20, jitter: false } },
      () => {
        throw new TypeError('no such customer')
      },
    )
    open.unshift({ close: () => handler.stop({ timeoutMs: 2_000 }) })
    await handler.ready
    await bus.publish(topic, { id: 7 }, { key: 'c7', headers: { 'x-tenant': 'acme' } })
    const probe = t.naming.groupQueue(`${topic}.dlq`, 'dlq')
    await waitFor(async () => ((await queueDepth(t, probe)) ?? 0) === 1, {
      timeoutMs: 10_000,
      description: 'one dead letter',
    })
    const dlq = track(collect(t, `${topic}.dlq`, { group: 'dlq' }))
    await dlq.waitForIds(1)
    const dead = dlq.deliveries[0]!.message
    expect(JSON.parse(payloadText(dead.payload))).toEqual({ id: 7 })
    expect(dead.topic).toBe(`${topic}.dlq`)
    expect(dead.headers['x-tenant']).toBe('acme')
    expect(dead.headers[SwitchyardHeaders.originalTopic]).toBe(topic)
    expect(dead.headers[SwitchyardHeaders.originalGroup]).toBe('billing')
    expect(dead.headers[SwitchyardHeaders.errorName]).toBe('TypeError')
    expect(dead.headers[SwitchyardHeaders.errorMessage]).toBe('no such customer')
    expect(dead.headers[SwitchyardHeaders.attempts]).toBe('2')
    expect(
      Object.keys(dead.headers).filter((h) => h.startsWith('x-death') || h.startsWith('x-first-death')),
    ).toEqual([])
  })

  it('redelivers a delayed nack after the delay, to the nacking group only', async () => {
    const t = transport()
    const topic = topicName('rmq.delay')
    const arrivals: number[] = []
    let nackedAt = 0
    const slow = track(
      collect(t, topic, {
        group: 'slow',
        settle: (d) => {
          if (d.message.attempt === 1) {
            nackedAt = Date.now()
            return d.nack({ delayMs: 700 })
          }
          arrivals.push(Date.now())
          return d.ack()
        },
      }),
    )
    const other = track(collect(t, topic, { group: 'other' }))
    await Promise.all([slow.ready, other.ready])
    const sent = createMessage(topic, { key: 'k', headers: { h: 'v' } })
    await t.publish([sent])
    await slow.waitForDeliveries(2, 10_000)
    const waited = arrivals[0]! - nackedAt
    expect(waited).toBeGreaterThanOrEqual(700)
    expect(waited).toBeLessThan(700 * 1.125 + 2_000)
    expect(slow.deliveries[1]!.message).toMatchObject({
      id: sent.id,
      attempt: 2,
      key: 'k',
      headers: { h: 'v' },
      topic,
    })
    const sentinel = createMessage(topic)
    await t.publish([sentinel])
    await other.waitForIds(2)
    expect(other.deliveries.map((d) => d.message.id)).toEqual([sent.id, sentinel.id])
  })

  it('rejects an unroutable publish with PublishError when mandatory, and accepts a routable one', async () => {
    const t = transport({ mandatory: true })
    const nobody = topicName('rmq.unroutable')
    const error = await expectSwitchyardError(t.publish([createMessage(nobody)]), 'PublishError')
    expect(error.retryable).toBe(false)
    const routed = topicName('rmq.routed')
    await t.provision(routed, { groups: ['g'] })
    await t.publish([createMessage(routed), createMessage(routed)])
    expect(await queueDepth(t, t.naming.groupQueue(routed, 'g'))).toBe(2)
  })

  it('with mandatory, a request to a topic nothing consumes rejects with NoResponderError at once', async () => {
    const t = transport({ mandatory: true })
    const bus = new Bus(t)
    open.unshift({ close: () => bus.close({ drain: false }) })
    const nobody = topicName('rmq.no-responder')
    const started = Date.now()
    const error = await expectSwitchyardError(
      bus.request(nobody, { q: 1 }, { timeoutMs: 20_000 }),
      'NoResponderError',
    )
    // Refused by the broker, long before the 20 s timeout.
    expect(Date.now() - started).toBeLessThan(10_000)
    expect(error.context.topic).toBe(nobody)
    expect(error.retryable).toBe(true)
  })

  it('fails fast with AuthenticationError on wrong credentials, once per use, without a retry loop', async () => {
    // A 1 ms backoff: were a refused login retried, the attempts would pile up while the test runs.
    const t = new RabbitMqTransport(
      { url: rabbitmqConnection.url, password: 'wrong-password' },
      { backoff: { initialMs: 1, maxMs: 1 } },
    )
    open.push({ close: () => t.close({ drain: false }) })
    const states: TransportStatus[] = []
    t.status$.subscribe((s) => states.push(s))
    const started = Date.now()
    await expectSwitchyardError(t.connect(), 'AuthenticationError')
    expect(Date.now() - started).toBeLessThan(5_000)
    await expectSwitchyardError(t.publish([createMessage(topicName('rmq.auth'))]), 'AuthenticationError')
    const c = track(collect(t, topicName('rmq.auth'), { group: 'g' }))
    await waitFor(() => c.ended, { timeoutMs: 5_000, description: 'the stream to end' })
    expect((c.error as Error).name).toBe('AuthenticationError')
    const refused = states.filter((s) => s.error?.name === 'AuthenticationError')
    expect(refused.map((s) => s.state)).toEqual(['reconnecting', 'reconnecting', 'reconnecting'])
    expect(states.at(-1)?.error?.name).toBe('AuthenticationError')
    const health = await t.health()
    expect(health.status).not.toBe('up')
    expect(health.error).not.toContain('wrong-password')
  })

  it('uses the prefetch option as the default inFlight, with basic.qos as the core window (inFlight + hold-back room)', async () => {
    const t = transport({ prefetch: 3 })
    const topic = topicName('rmq.qos')
    await t.provision(topic, { groups: ['g'] })
    await t.publish(Array.from({ length: 10 }, (_, i) => createMessage(topic, { key: `k${i}` })))
    const c = track(collect(t, topic, { group: 'g', settle: 'hold' }))
    const queue = t.naming.groupQueue(topic, 'g')
    // The broker hands out 6 (qos = 3 in flight + 3 to hold back behind busy keys); 4 stay ready.
    await waitFor(async () => c.deliveries.length === 3 && (await queueDepth(t, queue)) === 4, {
      description: '3 deliveries in the stream and 4 messages still in the queue',
    })
    expect((await t.health()).subscriptions).toMatchObject([{ topic, group: 'g', inFlight: 3 }])
    await c.deliveries[0]!.ack()
    await c.waitForDeliveries(4)
    await waitFor(async () => (await queueDepth(t, queue)) === 3, { description: 'one more fetched' })
    expect(c.deliveries).toHaveLength(4)
  })

  it('deprovision without groups deletes every group queue it declared for the topic, and its dead-letter queue', async () => {
    const t = transport()
    const topic = topicName('rmq.deprov')
    await t.provision(topic, { groups: ['g', 'other'] })
    const queues = [
      t.naming.groupQueue(topic, 'g'),
      t.naming.groupQueue(topic, 'other'),
      t.naming.groupQueue(`${topic}.dlq`, 'dlq'),
    ]
    for (const queue of queues) expect(await queueDepth(t, queue)).toBe(0)
    await t.deprovision(topic)
    for (const queue of queues) expect(await queueDepth(t, queue)).toBeUndefined()
    await t.deprovision(topic)
  })

  it('surfaces a queue deleted under a live consumer and consumes again once it is declared back', async () => {
    const t = transport()
    const topic = topicName('rmq.deleted')
    const states: TransportStatus[] = []
    t.status$.subscribe((s) => states.push(s))
    const c = track(collect(t, topic, { group: 'g' }))
    await c.ready
    const queue = t.naming.groupQueue(topic, 'g')
    const admin = await t.connection!.createChannel()
    await admin.deleteQueue(queue)
    await admin.close()
    await waitFor(() => states.some((s) => s.state === 'rebalancing'), {
      timeoutMs: 5_000,
      description: 'rebalancing',
    })
    const lost = states.find((s) => s.state === 'rebalancing')!
    expect(lost.error?.name).toBe('BrokerUnavailableError')
    expect(lost.error?.message).toContain(queue)
    await waitFor(() => states.at(-1)?.state === 'connected', {
      timeoutMs: 10_000,
      description: 'connected again',
    })
    const health = await t.health()
    expect(health.status).toBe('up')
    expect(health.subscriptions).toEqual([{ topic, group: 'g', inFlight: 0, lag: 0, consumers: 1 }])
    const sent = createMessage(topic)
    await t.publish([sent])
    await c.waitForIds(1)
    expect(c.ended).toBe(false)
  })
})

describe('Bus supervision on RabbitMQ', () => {
  it('restarts a handle whose queue cannot be declared back (permissions revoked) once they are restored', async () => {
    const t = transport()
    const bus = new Bus(t, { supervision: { maxRestarts: 20, backoff: { initialMs: 100, maxMs: 500 } } })
    open.push({ close: () => bus.close({ drain: false }) })
    const events: BusEvent[] = []
    bus.events$.subscribe((e) => events.push(e))
    const states: TransportStatus[] = []
    t.status$.subscribe((s) => states.push(s))
    // What a timeout below reports: the Bus events and transport states seen so far.
    const seen = (): string =>
      `events: ${events.map((e) => ('error' in e && e.error ? `${e.type} (${e.error.name}: ${e.error.message})` : e.type)).join(', ') || 'none'}; ` +
      `states: ${states.map((s) => (s.error ? `${s.state} (${s.error.name})` : s.state)).join(', ')}`
    const topic = topicName('rmq.supervised')
    const handled: unknown[] = []
    const sub = bus.handle(topic, { group: 'g' }, (m) => void handled.push(m.payload))
    await sub.ready
    const { vhost, username } = rabbitmqConnection
    try {
      // Without configure rights the queue cannot be declared again: the consumer fails for good.
      await rabbitmqctl(['set_permissions', '-p', vhost, username, '^$', '.*', '.*'])
      // Deleted by the operator (the user itself may no longer configure it).
      await rabbitmqctl(['delete_queue', '-p', vhost, t.naming.groupQueue(topic, 'g')])
      // Bounds, not speed targets: CI (Node 22 and 24 lines, after an hour of suites) once took
      // longer than 15 s here; this test alone takes 3-5 s.
      await waitFor(() => events.some((e) => e.type === 'subscription-restarting'), {
        timeoutMs: 60_000,
        description: () => `the supervisor restarting the failed subscription; ${seen()}`,
      })
    } finally {
      await rabbitmqctl(['set_permissions', '-p', vhost, username, '.*', '.*', '.*'])
    }
    await waitFor(() => events.some((e) => e.type === 'subscription-restarted'), {
      timeoutMs: 60_000,
      description: () => `the subscription ready again; ${seen()}`,
    })
    const restarting = events.find((e) => e.type === 'subscription-restarting')
    expect(restarting?.type === 'subscription-restarting' && restarting.topic).toBe(topic)
    await bus.publish(topic, 'after the restart')
    await waitFor(() => handled.includes('after the restart'), { timeoutMs: 10_000, description: 'handled' })
    expect(bus.supervision()?.children).toEqual([
      { topic, group: 'g', state: 'running', restarts: expect.any(Number) },
    ])
    expect(events.some((e) => e.type === 'subscription-failed')).toBe(false)
  })
})

async function queueDepth(t: Transport, queue: string): Promise<number | undefined> {
  const model = (t as RabbitMqTransport).connection
  if (!model) return undefined
  const ch = await model.createChannel()
  ch.on('error', () => undefined)
  try {
    return (await ch.checkQueue(queue)).messageCount
  } catch {
    return undefined
  } finally {
    await ch.close().catch(() => undefined)
  }
}
