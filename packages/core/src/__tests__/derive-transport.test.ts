import { asyncScheduler, type SchedulerLike, type Subscription, VirtualTimeScheduler } from 'rxjs'
import { afterEach, describe, expect, it } from 'vitest'
import { AuthenticationError } from '../errors.js'
import {
  BrokerUnavailableError,
  type Delivery,
  type DerivedTransport,
  type DeriveOptions,
  deriveTransport,
  isSwitchyardError,
  type TransportState,
} from '../spi.js'
import { deferred, outgoing, ScriptedDriver } from './scripted-driver.js'
import { waitFor } from './wait-for.js'

const opened: DerivedTransport[] = []
function derive(driver: ScriptedDriver, options: DeriveOptions = {}): DerivedTransport {
  const transport = deriveTransport(driver, options)
  opened.push(transport)
  return transport
}
afterEach(async () => {
  await Promise.all(opened.splice(0).map((t) => t.close({ drain: false })))
})

/** Subscribes and records deliveries, errors and completion. */
function collect(
  transport: DerivedTransport,
  topic: string,
  options: { group?: string; inFlight?: number } = {},
) {
  const seen = { deliveries: [] as Delivery[], error: undefined as unknown, completed: false }
  const subscription = transport.subscribe(topic, options).subscribe({
    next: (d) => void seen.deliveries.push(d),
    error: (e: unknown) => {
      seen.error = e
    },
    complete: () => {
      seen.completed = true
    },
  })
  return { ...seen, seen, subscription, ids: () => seen.deliveries.map((d) => d.message.id) }
}

describe('validation', () => {
  it('refuses bad names, oversized messages and out-of-range inFlight before the driver sees them', async () => {
    const driver = new ScriptedDriver()
    const t = derive(driver)
    await expect(t.publish([outgoing('a..b')])).rejects.toMatchObject({ name: 'InvalidTopicError' })
    await expect(t.publish([outgoing('__consumer_offsets')])).rejects.toMatchObject({
      name: 'InvalidTopicError',
    })
    await expect(t.publish([outgoing('ok'), outgoing('ok', 101)])).rejects.toMatchObject({
      name: 'MessageTooLargeError',
    })
    await expect(t.provision('ok', { groups: ['.'] })).rejects.toMatchObject({ name: 'InvalidTopicError' })
    const c = collect(t, 'ok', { inFlight: 100_000 })
    expect(c.seen.error).toMatchObject({ name: 'ConfigError', context: { field: 'inFlight' } })
    expect(driver.published).toEqual([])
    expect(driver.calls.filter((call) => call.startsWith('provision') || call.startsWith('consume'))).toEqual(
      [],
    )
  })

  it('passes provision and deprovision through once validated', async () => {
    const driver = new ScriptedDriver()
    const t = derive(driver)
    await t.provision('orders', { groups: ['billing'] })
    await t.deprovision('orders', { groups: ['billing'] })
    await t.deprovision('orders')
    expect(driver.calls.filter((c) => c.includes('provision'))).toEqual([
      'provision:orders:billing',
      'deprovision:orders:billing',
      'deprovision:orders:*',
    ])
  })
})

describe('connection', () => {
  it('reports an unreachable broker as reconnecting and rejects connect() after the connect timeout', async () => {
    const driver = new ScriptedDriver()
    for (let i = 0; i < 1_000; i++) driver.connectAnswers.push(() => new Promise<void>(() => undefined))
    const t = derive(driver, { connectTimeoutMs: 40 })
    const states: TransportState[] = []
    t.status$.subscribe((s) => states.push(s.state))
    const error = await t.connect().catch((e: unknown) => e)
    expect(error).toBeInstanceOf(BrokerUnavailableError)
    expect(states).toEqual(['idle', 'connecting', 'reconnecting'])
    await expect(t.publish([outgoing('x')])).rejects.toMatchObject({ name: 'BrokerUnavailableError' })
  })

  it('retries failed attempts with backoff; a waiting subscription attaches once connected', async () => {
    const driver = new ScriptedDriver()
    const refused = () => Promise.reject(new BrokerUnavailableError('scripted', 'here', 'refused'))
    driver.connectAnswers.push(refused, refused)
    const t = derive(driver, { backoff: { initialMs: 1, maxMs: 2 } })
    const states: TransportState[] = []
    t.status$.subscribe((s) => states.push(s.state))
    collect(t, 'orders')
    await waitFor(() => driver.consumers.length === 1, 'the consumer to attach')
    expect(driver.calls.slice(0, 4)).toEqual(['connect', 'connect', 'connect', 'consume:orders'])
    // Each failed attempt is reported with its error.
    expect(states).toEqual(['idle', 'connecting', 'reconnecting', 'reconnecting', 'connected'])
  })

  it('grows the wait between attempts by the backoff factor, up to maxMs', async () => {
    const driver = new ScriptedDriver()
    const refused = () => Promise.reject(new BrokerUnavailableError('scripted', 'here', 'refused'))
    driver.connectAnswers.push(refused, refused, refused)
    const connectTimeoutMs = 60_000
    const waits: number[] = []
    // Real time for the connect timeout; every other wait (the backoff) is recorded and run at once.
    const later = asyncScheduler.schedule.bind(asyncScheduler) as (
      work: unknown,
      delay: number,
      state: unknown,
    ) => Subscription
    const scheduler: SchedulerLike = {
      now: () => Date.now(),
      schedule: (work, delay = 0, state) => {
        if (delay !== connectTimeoutMs) waits.push(delay)
        return later(work, delay === connectTimeoutMs ? delay : 0, state)
      },
    }
    const t = derive(driver, {
      scheduler,
      connectTimeoutMs,
      backoff: { initialMs: 10, factor: 3, maxMs: 50 },
    })
    await t.connect()
    expect(driver.calls.filter((c) => c === 'connect')).toHaveLength(4)
    expect(waits.filter((w) => w > 0)).toEqual([10, 30, 50])
  })

  it('turns a disconnected event into reconnecting, then connects again', async () => {
    const driver = new ScriptedDriver()
    const t = derive(driver, { backoff: { initialMs: 1 } })
    await t.connect()
    driver.events.next({
      type: 'disconnected',
      error: new BrokerUnavailableError('scripted', 'here', 'gone'),
    })
    const report = await t.health()
    expect(report).toMatchObject({ status: 'degraded', state: 'reconnecting' })
    await waitFor(() => driver.calls.filter((c) => c === 'connect').length === 2, 'a second connect')
    await waitFor(() => states(t) === 'connected', 'connected again')
  })
  it('keeps retrying a refused login after a disconnect, at the longest backoff, without a use', async () => {
    const driver = new ScriptedDriver()
    const t = derive(driver, { backoff: { initialMs: 1, maxMs: 5 } })
    const seen: { state: TransportState; error?: string }[] = []
    t.status$.subscribe((s) => seen.push({ state: s.state, ...(s.error ? { error: s.error.name } : {}) }))
    await t.connect()
    // A broker just restarted: it refuses the login twice, then accepts it.
    const refused = () => Promise.reject(new AuthenticationError('scripted', 'login refused'))
    driver.connectAnswers.push(refused, refused)
    driver.events.next({
      type: 'disconnected',
      error: new BrokerUnavailableError('scripted', 'here', 'gone'),
    })
    await waitFor(
      () => states(t) === 'connected' && driver.calls.filter((c) => c === 'connect').length === 4,
      'connected again',
    )
    expect(seen.map((s) => s.error ?? s.state)).toEqual([
      'idle',
      'connecting',
      'connected',
      'BrokerUnavailableError',
      'AuthenticationError',
      'AuthenticationError',
      'connected',
    ])
  })

  it('does not retry a login refused before the first connection; the next use tries again', async () => {
    const driver = new ScriptedDriver()
    const refused = () => Promise.reject(new AuthenticationError('scripted', 'login refused'))
    driver.connectAnswers.push(refused)
    // Records every wait the connection schedules (none is a retry here).
    const waits: number[] = []
    const scheduler: SchedulerLike = {
      now: () => Date.now(),
      schedule: (work, delay = 0, state) => {
        waits.push(delay)
        return asyncScheduler.schedule(work as never, delay, state)
      },
    }
    const t = derive(driver, { scheduler, connectTimeoutMs: 60_000, backoff: { initialMs: 7, maxMs: 7 } })
    await expect(t.connect()).rejects.toMatchObject({ name: 'AuthenticationError' })
    expect(waits).not.toContain(7)
    await t.connect()
    expect(driver.calls.filter((c) => c === 'connect')).toHaveLength(2)
  })
})

describe('rebalancing', () => {
  it('reports a rebalance as rebalancing (degraded), then connected again', async () => {
    const driver = new ScriptedDriver()
    const t = derive(driver)
    await t.connect()
    driver.events.next({ type: 'rebalancing' })
    expect(await t.health()).toMatchObject({ status: 'degraded', state: 'rebalancing' })
    driver.events.next({ type: 'rebalanced' })
    expect(await t.health()).toMatchObject({ status: 'up', state: 'connected' })
  })

  it('reports the reason a driver gives with rebalancing, and drops it once rebalanced', async () => {
    const driver = new ScriptedDriver()
    const t = derive(driver)
    await t.connect()
    const why = new BrokerUnavailableError('scripted', 'here', 'queue q was deleted')
    driver.events.next({ type: 'rebalancing', error: why })
    expect(await t.health()).toMatchObject({ status: 'degraded', state: 'rebalancing', error: why.message })
    driver.events.next({ type: 'rebalanced' })
    const report = await t.health()
    expect(report).toMatchObject({ status: 'up', state: 'connected' })
    expect(report.error).toBeUndefined()
  })
})

function states(t: DerivedTransport): TransportState {
  let state: TransportState = 'idle'
  t.status$
    .subscribe((s) => {
      state = s.state
    })
    .unsubscribe()
  return state
}

describe('subscriptions', () => {
  it('pauses the consumer at inFlight, buffers what still arrives and resumes below the limit', async () => {
    const driver = new ScriptedDriver({ keyOrder: true })
    const t = derive(driver)
    const c = collect(t, 'orders', { inFlight: 2 })
    await waitFor(() => driver.consumers.length === 1, 'the consumer')
    const consumer = driver.consumers[0]!
    expect(consumer.spec.prefetch).toBe(2)
    consumer.deliver()
    consumer.deliver()
    consumer.deliver()
    expect(c.ids()).toEqual(['m1', 'm2'])
    expect(driver.calls).toContain('pause:orders')
    await c.seen.deliveries[0]!.ack()
    expect(c.ids()).toEqual(['m1', 'm2', 'm3'])
    expect(driver.calls).not.toContain('resume:orders')
    await c.seen.deliveries[1]!.ack()
    expect(driver.calls).toContain('resume:orders')
  })

  it('sizes the broker window with the holdBack option where the driver does not keep key order', async () => {
    const driver = new ScriptedDriver({ keyOrder: false })
    const t = derive(driver, { holdBack: (inFlight) => inFlight * 3 })
    collect(t, 'orders', { inFlight: 5 })
    await waitFor(() => driver.consumers.length === 1, 'the consumer')
    expect(driver.consumers[0]!.spec.prefetch).toBe(20)
  })

  it("uses the adapter's subscribe defaults for options a call leaves out, and the call's own first", async () => {
    const driver = new ScriptedDriver({ keyOrder: true })
    ;(driver.capabilities as { replay: boolean }).replay = true
    const t = derive(driver, { subscribeDefaults: { inFlight: 7, fromBeginning: true } })
    collect(t, 'orders', { group: 'billing' })
    collect(t, 'orders', { inFlight: 3 })
    collect(t, 'orders', { group: 'audit', inFlight: 2 })
    await waitFor(() => driver.consumers.length === 3, 'the consumers')
    const specs = driver.consumers.map((c) => c.spec)
    expect(specs.map((s) => s.prefetch)).toEqual([7, 3, 2])
    // fromBeginning is a default of group subscriptions only: a private one starts at the end.
    expect(specs.map((s) => s.fromBeginning)).toEqual([true, false, true])
  })

  it('holds later messages of a busy key back where the driver does not keep key order', async () => {
    const driver = new ScriptedDriver({ keyOrder: false })
    const t = derive(driver)
    const c = collect(t, 'orders', { inFlight: 4 })
    await waitFor(() => driver.consumers.length === 1, 'the consumer')
    const consumer = driver.consumers[0]!
    expect(consumer.spec.prefetch).toBe(8)
    consumer.deliver('k1', 'k1a')
    consumer.deliver('k1', 'k1b')
    consumer.deliver('k2', 'k2a')
    expect(c.ids()).toEqual(['k1a', 'k2a'])
    await c.seen.deliveries[0]!.ack()
    expect(c.ids()).toEqual(['k1a', 'k2a', 'k1b'])
  })

  it('settles once: a second settle does not reach the driver', async () => {
    const driver = new ScriptedDriver()
    const t = derive(driver)
    const c = collect(t, 'orders')
    await waitFor(() => driver.consumers.length === 1, 'the consumer')
    const raw = driver.consumers[0]!.deliver()
    await c.seen.deliveries[0]!.ack()
    await c.seen.deliveries[0]!.nack()
    expect(raw.settledAs).toBe('ack')
    expect(driver.calls.filter((call) => call.startsWith('ack') || call.startsWith('requeue'))).toEqual([
      'ack:m1',
    ])
  })

  it('uses the broker-held delay where the driver has one', async () => {
    const driver = new ScriptedDriver({ delay: true })
    const t = derive(driver)
    const c = collect(t, 'orders')
    await waitFor(() => driver.consumers.length === 1, 'the consumer')
    const raw = driver.consumers[0]!.deliver()
    await c.seen.deliveries[0]!.nack({ delayMs: 250 })
    expect(raw.settledAs).toBe('delay:250')
  })

  it('holds a delay in process on the scheduler where the driver has none, leaving the message unsettled', async () => {
    const scheduler = new VirtualTimeScheduler()
    const driver = new ScriptedDriver({ delay: false })
    const t = derive(driver, { scheduler })
    const c = collect(t, 'orders')
    await waitFor(() => driver.consumers.length === 1, 'the consumer')
    const raw = driver.consumers[0]!.deliver()
    await c.seen.deliveries[0]!.nack({ delayMs: 1_000 })
    expect(c.seen.deliveries).toHaveLength(1)
    expect(raw.settledAs).toBeUndefined()
    scheduler.flush()
    expect(scheduler.now()).toBe(1_000)
    expect(c.seen.deliveries).toHaveLength(2)
    expect(c.seen.deliveries[1]!.message).toMatchObject({ id: 'm1', attempt: 2 })
    await c.seen.deliveries[1]!.ack()
    expect(raw.settledAs).toBe('ack')
  })

  it('drops a process-held delay on unsubscribe: the message stays with the broker', async () => {
    const scheduler = new VirtualTimeScheduler()
    const driver = new ScriptedDriver({ delay: false })
    const t = derive(driver, { scheduler })
    const c = collect(t, 'orders')
    await waitFor(() => driver.consumers.length === 1, 'the consumer')
    const raw = driver.consumers[0]!.deliver()
    await c.seen.deliveries[0]!.nack({ delayMs: 1_000 })
    c.subscription.unsubscribe()
    await t.whenDetached()
    scheduler.flush()
    expect(c.seen.deliveries).toHaveLength(1)
    expect(raw.settledAs).toBeUndefined()
    expect(driver.calls).toContain('stop:orders')
  })

  it('whenDetached resolves only after started settles and the consumer stop completed', async () => {
    const driver = new ScriptedDriver()
    const t = derive(driver)
    const c = collect(t, 'orders')
    await waitFor(() => driver.consumers.length === 1, 'the consumer')
    const consumer = driver.consumers[0]!
    consumer.deliver()
    const settleGate = deferred()
    driver.settleAnswer = () => settleGate.promise
    const stopGate = deferred()
    consumer.stopGate = stopGate.promise
    void c.seen.deliveries[0]!.ack()
    c.subscription.unsubscribe()
    let detached = false
    const detaching = t.whenDetached().then(() => {
      detached = true
    })
    settleGate.resolve()
    await waitFor(() => driver.calls.includes('ack:m1'), 'the ack')
    expect(detached).toBe(false)
    stopGate.resolve()
    await detaching
    expect(driver.calls.slice(-2)).toEqual(['ack:m1', 'stop:orders'])
  })
})

describe('asynchronous attach', () => {
  it('stops a consumer that attaches after its stream was unsubscribed, before whenDetached resolves', async () => {
    const driver = new ScriptedDriver()
    const gate = deferred()
    driver.consumeGate = gate.promise
    const t = derive(driver)
    let ready = false
    const subscription = t.subscribe('orders', { onReady: () => (ready = true) }).subscribe()
    await waitFor(() => driver.calls.includes('consume:orders'), 'consume to be called')
    subscription.unsubscribe()
    const detaching = t.whenDetached()
    gate.resolve()
    await detaching
    expect(driver.calls.at(-1)).toBe('stop:orders')
    expect(ready).toBe(false)
  })
})

describe('close', () => {
  it('drains: an ack made during the drain reaches the driver before its consumer stops, then the stream completes', async () => {
    const driver = new ScriptedDriver()
    const t = derive(driver)
    const c = collect(t, 'orders')
    await waitFor(() => driver.consumers.length === 1, 'the consumer')
    driver.consumers[0]!.deliver()
    const settleGate = deferred()
    driver.settleAnswer = () => settleGate.promise
    let closed = false
    const closing = t.close({ timeoutMs: 5_000 }).then(() => {
      closed = true
    })
    // Arrives during the drain: held, never handed out.
    driver.consumers[0]!.deliver()
    void c.seen.deliveries[0]!.ack()
    expect(closed).toBe(false)
    settleGate.resolve()
    await closing
    expect(driver.calls.slice(-3)).toEqual(['ack:m1', 'stop:orders', 'close'])
    expect(c.ids()).toEqual(['m1'])
    expect(c.seen.completed).toBe(true)
    expect(c.seen.error).toBeUndefined()
  })

  it('gives up draining after timeoutMs on the scheduler; settling afterwards rejects', async () => {
    const scheduler = new VirtualTimeScheduler()
    const driver = new ScriptedDriver()
    const t = derive(driver, { scheduler })
    const c = collect(t, 'orders')
    await waitFor(() => driver.consumers.length === 1, 'the consumer')
    driver.consumers[0]!.deliver()
    let closed = false
    const closing = t.close({ timeoutMs: 60_000 }).then(() => {
      closed = true
    })
    await Promise.resolve()
    expect(closed).toBe(false)
    scheduler.flush()
    await closing
    expect(scheduler.now()).toBe(60_000)
    await expect(c.seen.deliveries[0]!.ack()).rejects.toMatchObject({ name: 'TransportClosedError' })
    expect(driver.calls).not.toContain('ack:m1')
  })

  it('flushes publishes accepted before close, and rejects by name those the broker never confirms', async () => {
    const driver = new ScriptedDriver()
    const t = derive(driver)
    await t.connect()
    const confirmed = deferred()
    const answers = [() => confirmed.promise, () => new Promise<void>(() => undefined)]
    driver.publishAnswer = () => answers.shift()!()
    const first = t.publish([outgoing('orders')])
    const second = t.publish([outgoing('orders')]).catch((e: unknown) => e)
    const closing = t.close({ timeoutMs: 50 })
    confirmed.resolve()
    await expect(first).resolves.toBeUndefined()
    await closing
    expect(isSwitchyardError(await second, 'TransportClosedError')).toBe(true)
    await expect(t.publish([outgoing('orders')])).rejects.toMatchObject({ name: 'TransportClosedError' })
  })

  it('without drain rejects a pending publish at once and stops consumers holding unsettled deliveries', async () => {
    const driver = new ScriptedDriver()
    const t = derive(driver)
    const c = collect(t, 'orders')
    await waitFor(() => driver.consumers.length === 1, 'the consumer')
    driver.consumers[0]!.deliver()
    driver.publishAnswer = () => new Promise<void>(() => undefined)
    const pending = t.publish([outgoing('orders')]).catch((e: unknown) => e)
    await t.close({ drain: false, timeoutMs: 60_000 })
    expect(isSwitchyardError(await pending, 'TransportClosedError')).toBe(true)
    expect(driver.calls.slice(-2)).toEqual(['stop:orders', 'close'])
    await expect(c.seen.deliveries[0]!.ack()).rejects.toMatchObject({ name: 'TransportClosedError' })
  })
})
