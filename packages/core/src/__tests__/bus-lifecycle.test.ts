/**
 * Lifecycle at the Bus: consume streams complete on a deliberate close, transport ownership,
 * AbortSignal on publish and stop, the async iterator, and the user's content-type.
 */
import { mergeMap, VirtualTimeScheduler } from 'rxjs'
import { afterEach, describe, expect, it } from 'vitest'
import { Bus, type BusOptions, type Delivery, isSwitchyardError } from '../index.js'
import { StubTransport } from './stub-transport.js'
import { uniqueTopic, waitFor } from './wait-for.js'

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()))
})

function setup(options: BusOptions = {}) {
  const transport = new StubTransport()
  const bus = new Bus(transport, options)
  cleanups.push(async () => {
    await bus.close({ timeoutMs: 100 })
    await transport.close({ drain: false })
  })
  return { transport, bus }
}

describe('Bus.consume at close', () => {
  it('completes (never errors) the documented mergeMap pattern when the Bus closes', async () => {
    const { bus } = setup()
    const topic = uniqueTopic()
    const seen: number[] = []
    let completed = false
    let failed: unknown
    let ready = false
    bus
      .consume<number>(topic, { group: 'g', onReady: () => (ready = true) })
      .pipe(mergeMap((d) => Promise.resolve(seen.push(d.message.payload)).then(() => d.ack())))
      .subscribe({ complete: () => (completed = true), error: (e) => (failed = e) })
    await waitFor(() => ready, 'ready')
    await bus.publish(topic, 1)
    await waitFor(() => seen.length === 1, 'one message')
    await bus.close()
    await waitFor(() => completed, 'completion')
    expect(failed).toBeUndefined()
  })

  it('completes when the transport underneath is closed on purpose', async () => {
    const { bus, transport } = setup()
    let completed = false
    let failed: unknown
    bus.consume(uniqueTopic(), { group: 'g' }).subscribe({
      complete: () => (completed = true),
      error: (e) => (failed = e),
    })
    await transport.close()
    await waitFor(() => completed, 'completion')
    expect(failed).toBeUndefined()
  })
})

describe('Bus.consume drain at close', () => {
  it('waits for handed-out deliveries to be settled, so an ack during close reaches the transport', async () => {
    const { bus, transport } = setup({ closeTransport: true })
    const topic = uniqueTopic()
    await transport.provision(topic, { groups: ['g'] })
    const held: Delivery<number>[] = []
    let completedAt: number | undefined
    bus.consume<number>(topic, { group: 'g' }).subscribe({
      next: (d) => void held.push(d),
      complete: () => (completedAt = transport.settlements.length),
    })
    await bus.publish(topic, 1, { id: 'a' })
    await waitFor(() => held.length === 1, 'delivered')
    let closed = false
    const closing = bus.close({ timeoutMs: 5_000 }).then(() => (closed = true))
    await new Promise((resolve) => setImmediate(resolve)) // let the close run as far as it can
    expect(closed).toBe(false)
    expect(completedAt).toBeUndefined()
    await held[0]?.ack()
    await closing
    expect(transport.settlements).toEqual([{ id: 'a', op: 'ack' }])
    expect(completedAt).toBe(1)
  })

  it('keeps waiting for a delivery whose nack was refused for bad options (it is still unsettled)', async () => {
    const { bus, transport } = setup({ closeTransport: true })
    const topic = uniqueTopic()
    await transport.provision(topic, { groups: ['g'] })
    const held: Delivery<number>[] = []
    bus.consume<number>(topic, { group: 'g' }).subscribe({ next: (d) => void held.push(d) })
    await bus.publish(topic, 1, { id: 'a' })
    await waitFor(() => held.length === 1, 'delivered')
    const refused = await held[0]?.nack({ delayMs: -1 }).then(
      () => undefined,
      (error: unknown) => error,
    )
    expect(isSwitchyardError(refused, 'ConfigError')).toBe(true)
    let closed = false
    const closing = bus.close({ timeoutMs: 5_000 }).then(() => (closed = true))
    await new Promise((resolve) => setImmediate(resolve)) // let the close run as far as it can
    expect(closed).toBe(false)
    await held[0]?.ack()
    await closing
    expect(transport.settlements).toEqual([{ id: 'a', op: 'ack' }])
  })

  it('hands out nothing more once draining; those deliveries go back to the broker', async () => {
    const { bus, transport } = setup()
    const topic = uniqueTopic()
    await transport.provision(topic, { groups: ['g'] })
    const seen: string[] = []
    const held: Delivery<number>[] = []
    bus.consume<number>(topic, { group: 'g', inFlight: 10 }).subscribe((d) => {
      seen.push(d.message.id)
      held.push(d)
    })
    await bus.publish(topic, 1, { id: 'first' })
    await waitFor(() => seen.length === 1, 'first delivered')
    const closing = bus.close({ timeoutMs: 5_000 })
    await transport.publish([
      { topic, id: 'late', payload: new TextEncoder().encode('2'), timestamp: 0, headers: {} },
    ])
    await waitFor(() => transport.unsettled === 2, 'late one delivered to the Bus')
    expect(seen).toEqual(['first'])
    await held[0]?.ack()
    await closing
    expect(transport.unsettled).toBe(0)
    expect(transport.queued(topic, 'g')).toBe(1)
  })

  it('ends at once with drain: false, leaving unsettled deliveries to the broker', async () => {
    const { bus, transport } = setup()
    const topic = uniqueTopic()
    await transport.provision(topic, { groups: ['g'] })
    let completed = false
    bus.consume(topic, { group: 'g' }).subscribe({ complete: () => (completed = true) })
    await bus.publish(topic, 1)
    await waitFor(() => transport.unsettled === 1, 'delivered')
    await bus.close({ drain: false })
    expect(completed).toBe(true)
    expect(transport.unsettled).toBe(0)
    expect(transport.queued(topic, 'g')).toBe(1)
  })
})

describe('transport ownership', () => {
  it('leaves a transport it was given open by default', async () => {
    const { bus, transport } = setup()
    await bus.close()
    await expect(transport.publish([])).resolves.toBeUndefined()
    const error = await bus.publish(uniqueTopic(), 1).catch((e) => e)
    expect(isSwitchyardError(error, 'TransportClosedError')).toBe(true)
  })

  it('closes the transport with closeTransport: true', async () => {
    const { bus, transport } = setup({ closeTransport: true })
    await bus.close()
    const error = await transport.publish([]).catch((e) => e)
    expect(isSwitchyardError(error, 'TransportClosedError')).toBe(true)
  })
})

describe('AbortSignal', () => {
  it('rejects publish and publishBatch with CancelledError when already aborted, sending nothing', async () => {
    const { bus, transport } = setup()
    const controller = new AbortController()
    controller.abort(new Error('shutting down'))
    const error = await bus.publish(uniqueTopic(), 1, { signal: controller.signal }).catch((e) => e)
    expect(isSwitchyardError(error, 'CancelledError')).toBe(true)
    expect(error.cause.message).toBe('shutting down')
    const topic = uniqueTopic()
    const batch = await bus
      .publishBatch([
        { topic, payload: 1 },
        { topic, payload: 2, signal: controller.signal },
      ])
      .catch((e) => e)
    expect(isSwitchyardError(batch, 'CancelledError')).toBe(true)
    expect(transport.publishCalls).toBe(0)
    await bus.publish(topic, 3, { signal: new AbortController().signal })
    expect(transport.published).toHaveLength(1)
  })

  it('ends stop() when its signal aborts, aborting the running handler with CancelledError', async () => {
    const scheduler = new VirtualTimeScheduler()
    const { bus } = setup({ scheduler })
    const topic = uniqueTopic()
    let signal: AbortSignal | undefined
    const sub = bus.handle(topic, { group: 'g' }, (_m, ctx) => {
      signal = ctx.signal
      return new Promise(() => {})
    })
    await sub.ready
    await bus.publish(topic, 1)
    await waitFor(() => signal !== undefined, 'handler started')
    const controller = new AbortController()
    let stopped = false
    const stopping = sub
      .stop({ timeoutMs: 3_600_000, signal: controller.signal })
      .then(() => (stopped = true))
    await Promise.resolve()
    expect(stopped).toBe(false)
    controller.abort()
    await stopping
    expect(signal?.aborted).toBe(true)
    expect(isSwitchyardError(signal?.reason, 'CancelledError')).toBe(true)
  })
})

describe('Bus.messages', () => {
  it('iterates deliveries with for await, and gives unsettled ones back on break', async () => {
    const { bus, transport } = setup()
    const topic = uniqueTopic()
    await transport.provision(topic, { groups: ['g'] })
    for (const n of [1, 2, 3]) await bus.publish(topic, n, { id: `m${n}` })
    const got: number[] = []
    for await (const d of bus.messages<number>(topic, { group: 'g', inFlight: 2 })) {
      got.push(d.message.payload)
      await d.ack()
      if (got.length === 2) break
    }
    expect(got).toEqual([1, 2])
    await waitFor(() => transport.unsettled === 0, 'unsubscribed')
    const rest: string[] = []
    for await (const d of bus.messages<number>(topic, { group: 'g' })) {
      rest.push(d.message.id)
      await d.ack()
      break
    }
    expect(rest).toEqual(['m3'])
  })

  it('ends the loop when the Bus closes, and throws a stream error from it', async () => {
    const { bus } = setup()
    const topic = uniqueTopic()
    const loop = (async () => {
      let n = 0
      for await (const _ of bus.messages(topic, { group: 'g' })) n++
      return n
    })()
    await bus.close()
    await expect(loop).resolves.toBe(0)
    const bad = (async () => {
      for await (const _ of bus.messages('bad topic!', {})) return 'no'
      return 'ended'
    })()
    await expect(bad).rejects.toThrow(/closed/)
  })
})

describe('content-type', () => {
  it("keeps the user's own content-type header instead of the codec's", async () => {
    const { bus, transport } = setup()
    const topic = uniqueTopic()
    await bus.publish(topic, { a: 1 }, { headers: { 'content-type': 'application/json; charset=utf-8' } })
    await bus.publish(topic, { a: 2 }, { headers: { 'x-b': 'b' } })
    expect(transport.published.map((m) => m.headers['content-type'])).toEqual([
      'application/json; charset=utf-8',
      'application/json',
    ])
  })
})

describe('stuck handlers on the real-time scheduler', () => {
  it('reports a stuck handler never before stuckAfterMs, with an elapsed time it is sure of', async () => {
    const { bus } = setup({ stuckAfterMs: 40 })
    const topic = uniqueTopic()
    let startedAt = 0
    let reportedAt = 0
    let elapsedMs = -1
    bus.events$.subscribe((e) => {
      if (e.type !== 'handler-stuck') return
      reportedAt = Date.now()
      elapsedMs = e.elapsedMs
    })
    const sub = bus.handle(topic, { group: 'g' }, () => {
      startedAt = Date.now()
      return new Promise(() => {})
    })
    await sub.ready
    await bus.publish(topic, 1)
    await waitFor(() => elapsedMs >= 0, 'handler-stuck event')
    expect(reportedAt - startedAt).toBeGreaterThanOrEqual(40)
    expect(elapsedMs).toBeGreaterThanOrEqual(40)
    expect(elapsedMs).toBeLessThanOrEqual(reportedAt - startedAt + 1)
  })
})

describe('HandlerSubscription.stop and the broker side of the unsubscribe', () => {
  it('resolves only after transport.whenDetached() resolves, where the transport has it', async () => {
    const { transport, bus } = setup()
    let detach: () => void = () => {}
    let asked = 0
    const detached = new Promise<void>((resolve) => {
      detach = resolve
    })
    Object.assign(transport, {
      whenDetached: () => {
        asked++
        return detached
      },
    })
    const sub = bus.handle(uniqueTopic(), { group: 'g' }, () => undefined)
    await sub.ready
    let stopped = false
    const stopping = sub.stop().then(() => {
      stopped = true
    })
    await waitFor(() => asked === 1, 'stop asks the transport whether the consumer detached')
    await Promise.resolve()
    expect(stopped).toBe(false)
    detach()
    await stopping
    expect(stopped).toBe(true)
  })
})
