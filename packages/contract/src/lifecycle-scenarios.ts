/**
 * Lifecycle scenarios: what a user sees at the seams between the `Bus` and the transport when a
 * service stops on purpose — a graceful stop keeps the acks of handlers that finished during the
 * drain, `close()` never drops a publish it accepted, and streams end quietly (complete, no error)
 * when the transport is closed deliberately.
 *
 * They go through `Bus.handle` and `Bus.consume`, where users live, as well as the raw SPI. This
 * module registers tests only and never looks at `transport.kind`.
 */
import { Bus, type Delivery, isSwitchyardError, type Transport, type TransportStatus } from '@switchyard/core'
import { expect, it } from 'vitest'
import type { Collector } from './collect.js'
import type { ContractHarness } from './contract-harness.js'
import { createMessage } from './create-message.js'
import { uniqueName } from './unique-name.js'

/** How many handlers are running when the drain begins. */
const running = 5

export function registerLifecycleScenarios(h: ContractHarness): void {
  /** A Bus on `transport`, closed (without draining) after the test. */
  const busOn = (transport: Transport): Bus => {
    const bus = new Bus(transport)
    h.track({ close: () => bus.close({ drain: false }) })
    return bus
  }

  /**
   * Publishes one sentinel per key in `keys` and waits until `reader` has them all: anything the
   * broker still held for the group before them (a redelivery) has arrived by then, because each
   * sentinel shares its key (and so its partition or queue position) with one original message.
   */
  const readPastSentinels = async (producer: Transport, reader: Collector, topic: string, keys: string[]) => {
    const sentinels = keys.map((key) => createMessage(topic, { key, payload: `sentinel ${key}` }))
    await producer.publish(sentinels)
    await h.waitFor(() => sentinels.every((s) => reader.ids.has(s.id)), {
      timeoutMs: h.ms(10_000),
      description: () => `the ${sentinels.length} sentinels, saw ${reader.ids.size} ids`,
    })
  }

  /** A producer, a consumer and the next consumer, distinct instances on one broker. */
  const three = async (): Promise<[Transport, Transport, Transport]> => {
    const [producer, consumer, next] = await h.transports(3)
    if (consumer === undefined || next === undefined) throw new Error('expected three transports')
    return [producer, consumer, next]
  }

  /** Handlers held on a gate until the test opens it, to finish while a drain is under way. */
  const gatedHandler = () => {
    const started: string[] = []
    const finished: string[] = []
    let open!: () => void
    const gate = new Promise<void>((resolve) => {
      open = resolve
    })
    const handler = async (m: { id: string }): Promise<void> => {
      started.push(m.id)
      await gate
      finished.push(m.id)
    }
    return { started, finished, open, handler }
  }

  /**
   * Provisions `group` on a fresh topic, starts a `handle` whose handlers wait on a gate, publishes
   * one message per key and waits until all of them are running, so the test can start a drain.
   */
  const runningHandlers = async (producer: Transport, bus: Bus, name: string) => {
    const topic = h.topic(name)
    const group = h.group()
    await producer.provision(topic, { groups: [group] })
    const gated = gatedHandler()
    const sub = bus.handle(topic, { group, concurrency: running }, gated.handler)
    await sub.ready
    const keys = Array.from({ length: running }, (_, i) => `k${i}`)
    const originals = keys.map((key) => createMessage(topic, { key, payload: '{}' }))
    await producer.publish(originals)
    await h.waitFor(() => gated.started.length === running, {
      description: () => `${running} running handlers, saw ${gated.started.length}`,
    })
    return { topic, group, gated, sub, keys, originals }
  }

  it(
    'a graceful HandlerSubscription.stop() keeps the acks of handlers that finish during the drain',
    async () => {
      const [producer, consumer] = await h.pair()
      const bus = busOn(consumer)
      const { topic, group, gated, sub, keys, originals } = await runningHandlers(producer, bus, 'drain-stop')

      const stopping = sub.stop({ timeoutMs: h.ms(10_000) })
      gated.open() // the handlers finish while the drain is under way
      await stopping
      expect(gated.finished).toHaveLength(running)

      const next = h.collect(consumer, topic, { group })
      await next.ready
      await readPastSentinels(producer, next, topic, keys)
      const redelivered = originals.filter((m) => next.ids.has(m.id)).map((m) => m.id)
      expect(redelivered).toEqual([])
    },
    h.testTimeout(40_000),
  )

  /** How many publishes are in flight when `close()` is called. */
  const unawaited = 50

  const flushCases = [
    ['Bus', 'fresh'],
    ['Bus', 'connected'],
    ['transport', 'fresh'],
    ['transport', 'connected'],
  ] as const
  for (const [via, producerState] of flushCases) {
    it(
      `close() of the ${via} (${producerState} producer) settles every publish accepted before it: stored, or rejected with TransportClosedError`,
      async () => {
        // A fresh producer has not connected yet: close() comes while it is still connecting.
        const [setup, producer, reader] = await h.transports(3)
        if (producerState === 'connected') await (producer ?? setup).connect()
        const topic = h.topic(`flush-${via.toLowerCase()}-${producerState}`)
        const group = h.group()
        await setup.provision(topic, { groups: [group] })
        const messages = Array.from({ length: unawaited }, (_, i) =>
          createMessage(topic, { key: `k${i % 7}`, payload: JSON.stringify({ i }) }),
        )
        const target = producer ?? setup
        const bus = via === 'Bus' ? new Bus(target) : undefined
        const publishes = messages.map((m) =>
          bus === undefined
            ? target.publish([m])
            : bus.publish(topic, { id: m.id }, { id: m.id, key: m.key as string }),
        )
        const outcomes = Promise.allSettled(publishes)
        await (bus === undefined ? target.close() : bus.close())
        const settled = await outcomes
        const rejections = settled.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []))
        // Rejected by name, never with a broker error caused by the close itself.
        expect(rejections.filter((e) => !isSwitchyardError(e, 'TransportClosedError')).map(String)).toEqual(
          [],
        )
        const stored = messages.filter((_, i) => settled[i]?.status === 'fulfilled').map((m) => m.id)
        if (!h.capabilities.persistent || stored.length === 0) return
        // Every publish that resolved is stored: a new consumer of the provisioned group reads it.
        const c = h.collect(reader ?? setup, topic, { group })
        await c.ready
        await h.waitFor(() => stored.every((id) => c.ids.has(id)), {
          timeoutMs: h.ms(10_000),
          description: () => `${stored.length} stored messages read back, saw ${c.ids.size}`,
        })
      },
      h.testTimeout(40_000),
    )
  }

  it(
    'deprovision deletes a provisioned group with its backlog, is idempotent, and the topic can be used again',
    async () => {
      const [producer, consumer] = await h.pair()
      const topic = h.topic('deprovision')
      const group = h.group()
      await producer.provision(topic, { groups: [group] })
      const backlog = Array.from({ length: 3 }, (_, i) => createMessage(topic, { key: `k${i}` }))
      await producer.publish(backlog)

      await producer.deprovision(topic, { groups: [group] })
      await producer.deprovision(topic, { groups: [group, h.group('never-used')] })

      // Provisioned again, the group starts empty: the backlog went with the first one.
      await h.waitFor(
        async () => {
          try {
            await producer.provision(topic, { groups: [group] })
            return true
          } catch {
            return false // a broker may take a moment to finish deleting the topic
          }
        },
        { timeoutMs: h.ms(10_000), description: 'the topic provisioned again' },
      )
      const c = h.collect(consumer, topic, { group })
      await c.ready
      const fresh = createMessage(topic, { key: 'k0' })
      await producer.publish([fresh])
      await c.waitForDelivery((d) => d.message.id === fresh.id, 'the new message', h.ms(10_000))
      expect(backlog.filter((m) => c.ids.has(m.id))).toEqual([])
    },
    h.testTimeout(40_000),
  )

  it(
    'reports a handler that never resolves with a handler-stuck event, once, and the other keys keep flowing',
    async () => {
      const [producer, consumer] = await h.pair()
      const topic = h.topic('stuck')
      const group = h.group()
      const stuckAfterMs = 300
      const bus = new Bus(consumer, { stuckAfterMs })
      h.track({ close: () => bus.close({ drain: false }) })
      const stuck: { id: string; elapsedMs: number }[] = []
      const events = bus.events$.subscribe((event) => {
        if (event.type === 'handler-stuck') stuck.push({ id: event.message.id, elapsedMs: event.elapsedMs })
      })
      h.track({ close: async () => events.unsubscribe() })
      let release!: () => void
      const never = new Promise<void>((resolve) => {
        release = resolve
      })
      h.track({ close: async () => release() })
      const handled: string[] = []
      const sub = bus.handle(topic, { group, concurrency: 4 }, async (m) => {
        if (m.key?.startsWith('stuck')) await never
        handled.push(m.id)
      })
      await sub.ready
      const hanging = createMessage(topic, { key: 'stuck', payload: '{}' })
      const others = Array.from({ length: 3 }, (_, i) =>
        createMessage(topic, { key: `ok${i}`, payload: '{}' }),
      )
      await producer.publish([hanging, ...others])

      await h.waitFor(() => stuck.length > 0, {
        timeoutMs: h.ms(10_000),
        description: 'a handler-stuck event for the hanging handler',
      })
      await h.waitFor(() => others.every((m) => handled.includes(m.id)), {
        timeoutMs: h.ms(10_000),
        description: () => `the other keys handled, saw ${handled.length}`,
      })
      expect(stuck[0]?.id).toBe(hanging.id)
      expect(stuck[0]?.elapsedMs).toBeGreaterThanOrEqual(stuckAfterMs)
      // Reported once per delivery, however long it hangs: a second hanging message published
      // now is reported at least `stuckAfterMs` later, by when the first has hung for twice that.
      const later = createMessage(topic, { key: 'stuck', payload: '{}' })
      const laterKey = createMessage(topic, { key: 'stuck-too', payload: '{}' })
      await producer.publish([later, laterKey])
      await h.waitFor(() => stuck.some((s) => s.id === laterKey.id), {
        timeoutMs: h.ms(10_000),
        description: 'a handler-stuck event for the second hanging handler',
      })
      expect(stuck.filter((s) => s.id === hanging.id)).toHaveLength(1)
      // Same key as the first: held back behind it, so it never started and is not reported.
      expect(stuck.some((s) => s.id === later.id)).toBe(false)
      release()
    },
    h.testTimeout(30_000),
  )

  const unreachable = h.options.unreachable
  if (unreachable !== undefined) {
    it('reports an unreachable broker within 5 s: connect and publish reject with BrokerUnavailableError, status$ shows it', async () => {
      const transport = await unreachable()
      h.track({ close: () => transport.close({ drain: false }) })
      const statuses: TransportStatus[] = []
      const watching = transport.status$.subscribe((s) => statuses.push(s))
      h.track({ close: async () => watching.unsubscribe() })
      const bus = new Bus(transport)
      const topic = uniqueName('contract.unreachable')

      const timed = async (operation: Promise<unknown>): Promise<{ error: unknown; ms: number }> => {
        const began = Date.now()
        const error = await operation.then(
          () => undefined,
          (e: unknown) => e,
        )
        return { error, ms: Date.now() - began }
      }
      const connect = await timed(transport.connect())
      const publish = await timed(bus.publish(topic, { n: 1 }))
      for (const outcome of [connect, publish]) {
        expect(isSwitchyardError(outcome.error, 'BrokerUnavailableError'), String(outcome.error)).toBe(true)
        expect(outcome.ms).toBeLessThan(5_000)
      }
      expect(String((connect.error as Error).message).length).toBeGreaterThan(0)
      expect(statuses.some((s) => isSwitchyardError(s.error, 'BrokerUnavailableError'))).toBe(true)
    }, 30_000)
  }

  for (const via of ['transport', 'Bus.consume'] as const) {
    it(
      `a stream from ${via} completes, without an error, when the transport is closed on purpose`,
      async () => {
        const transport = await h.transport()
        const topic = h.topic('complete')
        const group = h.group()
        let completed = false
        let failure: unknown
        let ready!: () => void
        const isReady = new Promise<void>((resolve) => {
          ready = resolve
        })
        const options = { group, onReady: () => ready() }
        const stream =
          via === 'transport'
            ? transport.subscribe(topic, options)
            : new Bus(transport).consume(topic, options)
        const subscription = stream.subscribe({
          next: (d) => void d.ack().catch(() => undefined),
          error: (e: unknown) => {
            failure = e
          },
          complete: () => {
            completed = true
          },
        })
        h.track({ close: async () => subscription.unsubscribe() })
        await isReady
        await transport.close()
        await h.waitFor(() => completed || failure !== undefined, { description: 'the end of the stream' })
        expect(failure === undefined ? undefined : String(failure)).toBeUndefined()
        expect(completed).toBe(true)
      },
      h.testTimeout(20_000),
    )
  }

  if (h.capabilities.persistent) {
    it(
      'a graceful Bus.close() keeps the acks of handlers that finish during the drain (next consumer sees none)',
      async () => {
        const [producer, consumer, next] = await three()
        const bus = new Bus(consumer)
        const { topic, group, gated, keys, originals } = await runningHandlers(producer, bus, 'drain-close')

        const closing = bus.close({ timeoutMs: h.ms(10_000) })
        gated.open()
        await closing
        expect(gated.finished).toHaveLength(running)

        const reader = h.collect(next, topic, { group })
        await reader.ready
        await readPastSentinels(producer, reader, topic, keys)
        const redelivered = originals.filter((m) => reader.ids.has(m.id)).map((m) => m.id)
        expect(redelivered).toEqual([])
      },
      h.testTimeout(60_000),
    )

    it(
      'a graceful transport close() keeps acks sent by a Bus.consume pipeline during the drain',
      async () => {
        const [producer, consumer, next] = await three()
        const topic = h.topic('drain-consume')
        const group = h.group()
        await producer.provision(topic, { groups: [group] })
        const bus = new Bus(consumer)
        const held: Delivery<unknown>[] = []
        let streamError: unknown
        let ready!: () => void
        const isReady = new Promise<void>((resolve) => {
          ready = resolve
        })
        const consuming = bus.consume(topic, { group, onReady: () => ready() }).subscribe({
          next: (d) => held.push(d),
          error: (e: unknown) => {
            streamError = e
          },
        })
        h.track({ close: async () => consuming.unsubscribe() })
        await isReady
        const keys = Array.from({ length: running }, (_, i) => `k${i}`)
        const originals = keys.map((key) => createMessage(topic, { key, payload: '{}' }))
        await producer.publish(originals)
        await h.waitFor(() => held.length === running, {
          description: () => `${running} held deliveries, saw ${held.length}`,
        })

        const closing = consumer.close({ drain: true, timeoutMs: h.ms(10_000) })
        await Promise.all(held.map((d) => d.ack()))
        await closing
        expect(streamError === undefined || isSwitchyardError(streamError, 'TransportClosedError')).toBe(true)

        const reader = h.collect(next, topic, { group })
        await reader.ready
        await readPastSentinels(producer, reader, topic, keys)
        const redelivered = originals.filter((m) => reader.ids.has(m.id)).map((m) => m.id)
        expect(redelivered).toEqual([])
      },
      h.testTimeout(60_000),
    )
  }
}
