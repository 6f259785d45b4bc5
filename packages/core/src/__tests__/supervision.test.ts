import { VirtualTimeScheduler } from 'rxjs'
import { afterEach, describe, expect, it } from 'vitest'
import { BrokerUnavailableError, Bus, type BusEvent, type BusOptions, isSwitchyardError } from '../index.js'
import { StubTransport } from './stub-transport.js'
import { uniqueTopic } from './wait-for.js'

const buses: Bus[] = []
afterEach(async () => {
  await Promise.all(buses.splice(0).map((b) => b.close({ drain: false })))
})

/** A Bus on a stub transport, all timers on virtual time. */
function setup(supervision?: BusOptions['supervision']) {
  const scheduler = new VirtualTimeScheduler()
  const transport = new StubTransport({ scheduler })
  const bus = new Bus(transport, {
    scheduler,
    stuckAfterMs: false,
    ...(supervision === undefined ? {} : { supervision }),
  })
  const events: BusEvent[] = []
  bus.events$.subscribe((e) => events.push(e))
  buses.push(bus)
  /** Advances virtual time by `ms`, running what falls due. */
  const advance = (ms: number): void => {
    const to = scheduler.now() + ms
    scheduler.maxFrames = to
    scheduler.flush()
    scheduler.frame = to // flush stops at the last action run; the clock moves on to `to`
  }
  return { scheduler, transport, bus, events, advance }
}

const lost = (): Error =>
  new BrokerUnavailableError('stub', 'stub://queue', 'the queue was deleted under the consumer')
const ofType = <T extends BusEvent['type']>(events: BusEvent[], type: T) =>
  events.filter((e): e is Extract<BusEvent, { type: T }> => e.type === type)

describe('supervision of handle subscriptions', () => {
  it('one_for_one: restarts the failed subscription after the backoff and leaves its sibling alone', async () => {
    const { transport, bus, events, advance } = setup()
    const [a, b] = [uniqueTopic(), uniqueTopic()]
    const seen: string[] = []
    const subA = bus.handle(a, { group: 'g' }, (m) => void seen.push(`a:${String(m.payload)}`))
    const subB = bus.handle(b, { group: 'g' }, (m) => void seen.push(`b:${String(m.payload)}`))
    await Promise.all([subA.ready, subB.ready])
    const before = transport.subscribeCalls

    transport.failSubscribers(a, lost())
    expect(ofType(events, 'subscription-restarting')).toMatchObject([{ topic: a, restart: 1, delayMs: 200 }])
    expect(bus.supervision()?.children.find((c) => c.topic === a)?.state).toBe('restarting')
    advance(199)
    expect(transport.subscribeCalls).toBe(before)
    advance(1)
    expect(transport.subscribeCalls).toBe(before + 1)
    expect(ofType(events, 'subscription-restarted')).toMatchObject([{ topic: a, restart: 1 }])

    await bus.publish(a, 1)
    await bus.publish(b, 2)
    await Promise.resolve()
    expect(seen).toEqual(['a:1', 'b:2'])
    const report = bus.supervision()
    expect(report).toMatchObject({
      strategy: 'one_for_one',
      maxRestarts: 5,
      withinMs: 60_000,
      escalated: false,
    })
    expect(report?.children).toEqual([
      { topic: a, group: 'g', state: 'running', restarts: 1 },
      { topic: b, group: 'g', state: 'running', restarts: 0 },
    ])
  })

  it('backs off exponentially within the window and escalates past maxRestarts', async () => {
    const escalations: unknown[] = []
    const { transport, bus, events, advance } = setup({
      maxRestarts: 3,
      withinMs: 10_000,
      onEscalate: (e) => escalations.push(e),
    })
    const [a, b] = [uniqueTopic(), uniqueTopic()]
    const subA = bus.handle(a, { group: 'g' }, () => {})
    const handledB: unknown[] = []
    const subB = bus.handle(b, { group: 'g' }, (m) => void handledB.push(m.payload))
    await Promise.all([subA.ready, subB.ready])

    for (const delay of [200, 400, 800]) {
      transport.failSubscribers(a, lost())
      expect(ofType(events, 'subscription-restarting').at(-1)?.delayMs).toBe(delay)
      advance(delay)
    }
    expect(ofType(events, 'subscription-restarted')).toHaveLength(3)

    transport.failSubscribers(a, lost())
    expect(ofType(events, 'subscription-restarting')).toHaveLength(3)
    const [escalated] = ofType(events, 'supervision-escalated')
    expect(escalated?.escalation).toMatchObject({ topic: a, group: 'g', restarts: 3, withinMs: 10_000 })
    expect(escalated?.escalation.error.message).toMatch(/deleted under the consumer/)
    expect(escalations).toHaveLength(1)
    expect(ofType(events, 'subscription-failed')).toMatchObject([{ topic: a }])
    expect(bus.supervision()?.escalated).toBe(true)
    expect(bus.supervision()?.children.find((c) => c.topic === a)?.state).toBe('failed')

    // The sibling is not stopped by the escalation.
    await bus.publish(b, 'still here')
    await Promise.resolve()
    expect(handledB).toEqual(['still here'])
    expect(bus.supervision()?.children.find((c) => c.topic === b)?.state).toBe('running')
  })

  it('counts only restarts inside the window: failures spread out never escalate', async () => {
    const { transport, bus, events, advance } = setup({ maxRestarts: 2, withinMs: 1_000 })
    const topic = uniqueTopic()
    await bus.handle(topic, { group: 'g' }, () => {}).ready
    for (let i = 0; i < 5; i++) {
      transport.failSubscribers(topic, lost())
      advance(1_500)
    }
    expect(ofType(events, 'subscription-restarted')).toHaveLength(5)
    expect(ofType(events, 'supervision-escalated')).toHaveLength(0)
    // Each failure was the only one in its window: the first backoff step every time.
    expect(ofType(events, 'subscription-restarting').map((e) => e.delayMs)).toEqual([200, 200, 200, 200, 200])
  })

  it('one_for_all: a failure restarts every running handle subscription, with one budget for the Bus', async () => {
    const { transport, bus, events, advance } = setup({ strategy: 'one_for_all', maxRestarts: 1 })
    const [a, b] = [uniqueTopic(), uniqueTopic()]
    await Promise.all([
      bus.handle(a, { group: 'g' }, () => {}).ready,
      bus.handle(b, { group: 'g' }, () => {}).ready,
    ])

    transport.failSubscribers(a, lost())
    expect(
      ofType(events, 'subscription-restarting')
        .map((e) => e.topic)
        .sort(),
    ).toEqual([a, b].sort())
    advance(200)
    expect(ofType(events, 'subscription-restarted')).toHaveLength(2)

    // The budget is shared: a failure of the other one now escalates.
    transport.failSubscribers(b, lost())
    expect(ofType(events, 'supervision-escalated')).toHaveLength(1)
    expect(bus.supervision()?.children.map((c) => [c.topic, c.state])).toEqual([
      [a, 'running'],
      [b, 'failed'],
    ])
  })

  it('never restarts what a restart cannot fix, and not at all with supervision: false', async () => {
    const { transport, bus, events } = setup()
    const topic = uniqueTopic()
    await bus.handle(topic, { group: 'g' }, () => {}).ready
    await transport.close()
    expect(ofType(events, 'subscription-restarting')).toHaveLength(0)
    expect(ofType(events, 'subscription-failed')[0]?.error.name).toBe('TransportClosedError')

    const off = setup(false)
    const sub = off.bus.handle(topic, { group: 'g' }, () => {})
    await sub.ready
    off.transport.failSubscribers(topic, lost())
    expect(ofType(off.events, 'subscription-restarting')).toHaveLength(0)
    expect(ofType(off.events, 'subscription-failed')).toHaveLength(1)
    expect(off.bus.supervision()).toBeUndefined()
  })

  it('a subscription failing before it is ready is restarted, and ready resolves once it is', async () => {
    const { transport, bus, advance } = setup()
    transport.failSubscribes.push(lost(), lost())
    const sub = bus.handle(uniqueTopic(), { group: 'g' }, () => {})
    let ready = false
    void sub.ready.then(() => {
      ready = true
    })
    advance(200)
    await Promise.resolve()
    expect(ready).toBe(false)
    advance(400)
    await Promise.resolve()
    expect(ready).toBe(true)
  })

  it('stop() during a backoff cancels the restart', async () => {
    const { transport, bus, advance } = setup()
    const topic = uniqueTopic()
    const sub = bus.handle(topic, { group: 'g' }, () => {})
    await sub.ready
    transport.failSubscribers(topic, lost())
    await sub.stop()
    const calls = transport.subscribeCalls
    advance(10_000)
    expect(transport.subscribeCalls).toBe(calls)
    expect(bus.supervision()?.children).toEqual([])
  })

  it('refuses bad supervision options with a ConfigError naming each field', () => {
    let error: unknown
    try {
      new Bus(new StubTransport(), {
        supervision: {
          strategy: 'rest_for_one' as 'one_for_one',
          maxRestarts: -1,
          backoff: { factor: 0.5 },
          maxRestart: 3,
        } as never,
      })
    } catch (e) {
      error = e
    }
    expect(isSwitchyardError(error, 'ConfigError')).toBe(true)
    const message = (error as Error).message
    for (const field of [
      'supervision.strategy',
      'supervision.maxRestarts',
      'supervision.backoff.factor',
      'supervision.maxRestart ',
    ]) {
      expect(message).toContain(field)
    }
  })
})
