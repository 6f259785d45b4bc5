/**
 * The live broker switch on memory → memory (every memory transport is its own broker): the order
 * of a switch (publish moment, drain, forwarding of what the old broker still queues, old closed),
 * a failed switch leaving the app on the old broker, and the di app following its transport
 * document in a config store — a valid change switches, an invalid or deleted one is refused with
 * the reason on `errors$`, the app staying where it was.
 */
import 'reflect-metadata'
import { MemoryConfigStore } from '@switchyard/config'
import {
  BrokerUnavailableError,
  Bus,
  isSwitchyardError,
  type Message,
  type SwitchyardError,
  type Transport,
} from '@switchyard/core'
import { MemoryTransport } from '@switchyard/memory'
import { filter, firstValueFrom, take, toArray } from 'rxjs'
import { inject, injectable, container as root } from 'tsyringe'
import { afterEach, expect, it, vi } from 'vitest'
import {
  type AppEvent,
  BUS,
  configure,
  fromConfigStore,
  Handle,
  SwitchableTransport,
  type SwitchyardApp,
} from '../index.js'

const cleanup: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step()
})

const encode = (n: number) => ({
  topic: 'jobs',
  payload: new TextEncoder().encode(String(n)),
  id: `job-${n}`,
  timestamp: Date.now(),
  headers: {},
  key: `k${n % 7}`,
})

it('moves handlers, forwards what the old broker still queues, publishes only to the new one, closes the old', async () => {
  const a = new MemoryTransport()
  const b = new MemoryTransport()
  const transport = new SwitchableTransport(a)
  const bus = new Bus(transport)
  cleanup.push(() => transport.close())
  const seen = new Map<string, number>()
  let gate: () => void = () => undefined
  let gated = true
  const opened = new Promise<void>((resolve) => {
    gate = resolve
  })
  const sub = bus.handle(
    'jobs',
    { group: 'workers', concurrency: 1, inFlight: 4 },
    async (m: Message<unknown>) => {
      if (gated) await opened
      seen.set(m.id, (seen.get(m.id) ?? 0) + 1)
    },
  )
  await sub.ready
  // 50 messages confirmed by the old broker; the handler holds 4, the rest wait in the group queue.
  await Promise.all(Array.from({ length: 50 }, (_, n) => transport.publish([encode(n)])))
  expect(transport.current).toBe(a)

  let retired = false
  const switching = transport.switchTo(b, {
    drainTimeoutMs: 5_000,
    forwardIdleMs: 100,
    onRetired: () => {
      retired = true
    },
  })
  // Publish moved before the old handlers were drained: the next publish goes to b already.
  await until(() => transport.current === b)
  await transport.publish([encode(50)])
  gated = false
  gate()
  const report = await switching
  expect(retired).toBe(true)
  expect(report).toMatchObject({ from: 'memory', to: 'memory', leftBehind: [] })
  expect(report.forwarded).toBeGreaterThanOrEqual(46) // all but the ≤ 4 the handler held (drained on a)
  expect(report.possibleDuplicates).toBeGreaterThanOrEqual(0)
  await until(() => seen.size === 51)
  expect([...seen.keys()].sort()).toEqual(Array.from({ length: 51 }, (_, n) => `job-${n}`).sort())
  // Each handled once here: everything the handler took from a was settled before a was detached.
  expect([...seen.values()].every((n) => n === 1)).toBe(true)
  await expect(a.publish([encode(99)])).rejects.toMatchObject({ name: 'TransportClosedError' })
  expect(transport.kind).toBe('memory')
  await sub.stop()
})

it('stays on the old transport when the new one cannot connect, and keeps handling', async () => {
  const a = new MemoryTransport()
  const broken = new MemoryTransport()
  const failing: Transport = Object.assign(Object.create(broken) as Transport, {
    connect: () => Promise.reject(new BrokerUnavailableError('memory', 'nowhere:1', 'refused for the test')),
    close: () => broken.close(),
  })
  const transport = new SwitchableTransport(a)
  const bus = new Bus(transport)
  cleanup.push(() => transport.close())
  const seen: string[] = []
  const sub = bus.handle('jobs', { group: 'workers' }, (m: Message<unknown>) => {
    seen.push(m.id)
  })
  await sub.ready
  await expect(transport.switchTo(failing)).rejects.toMatchObject({ name: 'BrokerUnavailableError' })
  expect(transport.current).toBe(a)
  await transport.publish([encode(1)])
  await until(() => seen.includes('job-1'))
  await sub.stop()
})

it('gives up a new transport that never connects within readyTimeoutMs, and close() is not held by it', async () => {
  const a = new MemoryTransport()
  const never = new MemoryTransport()
  const hanging: Transport = Object.assign(Object.create(never) as Transport, {
    connect: () => new Promise<void>(() => undefined),
    close: () => never.close(),
  })
  const transport = new SwitchableTransport(a)
  const started = Date.now()
  await expect(transport.switchTo(hanging, { readyTimeoutMs: 300 })).rejects.toMatchObject({
    name: 'TimeoutError',
  })
  expect(transport.current).toBe(a)
  expect(Date.now() - started).toBeLessThan(5_000)
  await transport.close({ timeoutMs: 200 })
  await expect(a.publish([encode(1)])).rejects.toMatchObject({ name: 'TransportClosedError' })
})

const appTopic = `signups.${Math.random().toString(36).slice(2, 8)}`

@injectable()
class Signups {
  readonly handled: string[] = []
  constructor(@inject(BUS) readonly bus: Bus) {}
  @Handle(appTopic, { group: 'signups' })
  onSignup(message: Message<{ n: number }>): void {
    this.handled.push(message.id)
  }
}

it('a di app follows its transport document: valid changes switch, invalid and deleted ones are refused', async () => {
  const store = new MemoryConfigStore()
  await store.put('transport', { kind: 'memory' })
  const container = root.createChildContainer()
  const app: SwitchyardApp = await configure(container, {
    transport: fromConfigStore('transport'),
    configStore: store,
    services: [Signups],
    liveSwitch: { forwardIdleMs: 100 },
  })
  cleanup.push(() => app.stop())
  const events: AppEvent[] = []
  const errors: SwitchyardError[] = []
  app.events$.subscribe((e) => events.push(e))
  app.errors$.subscribe((e) => errors.push(e))
  await app.start()
  const service = container.resolve(Signups)
  const first = (app.transport as SwitchableTransport).current
  await service.bus.publish(appTopic, { n: 1 }, { id: 's1' })

  const switched = firstValueFrom(app.events$.pipe(filter((e) => e.type === 'transport-switched')))
  await store.put('transport', { kind: 'memory', retention: 500 })
  const report = await switched
  const second = (app.transport as SwitchableTransport).current
  expect(second).not.toBe(first)
  expect(report).toMatchObject({ type: 'transport-switched', from: 'memory', to: 'memory' })
  await service.bus.publish(appTopic, { n: 2 }, { id: 's2' })

  // Invalid: refused with the reason, the app stays on the second transport.
  const refused = firstValueFrom(app.errors$.pipe(take(1)))
  await store.put('transport', { kind: 'memory', retention: 'lots' })
  const reason = await refused
  expect(isSwitchyardError(reason, 'ConfigError')).toBe(true)
  expect(reason.message).toContain('retention')
  expect((app.transport as SwitchableTransport).current).toBe(second)

  // Deleted: refused as well.
  const deleted = firstValueFrom(app.errors$.pipe(take(1)))
  await store.delete('transport')
  expect((await deleted).message).toContain('deleted')

  // A valid document again switches.
  const again = firstValueFrom(
    app.events$.pipe(
      filter((e) => e.type === 'transport-switched'),
      take(1),
      toArray(),
    ),
  )
  await store.put('transport', { kind: 'memory' })
  await again
  expect((app.transport as SwitchableTransport).current).not.toBe(second)
  await service.bus.publish(appTopic, { n: 3 }, { id: 's3' })
  await until(() => service.handled.includes('s3'))
  expect(service.handled.filter((id) => id !== 's3').sort()).toEqual(['s1', 's2'])
  expect(events.map((e) => e.type)).toEqual([
    'transport-switch-started',
    'transport-switched',
    'transport-switch-refused',
    'transport-switch-refused',
    'transport-switch-started',
    'transport-switched',
  ])
  expect(errors).toHaveLength(2)
})

it('rejects liveSwitch without a transport document', async () => {
  await expect(
    configure(root.createChildContainer(), { transport: { kind: 'memory' }, liveSwitch: true }),
  ).rejects.toMatchObject({ name: 'ConfigError', message: expect.stringContaining('liveSwitch') })
})

/** Waits (polling, bounded) for a condition. */
function until(condition: () => boolean): Promise<void> {
  return vi.waitFor(
    () => {
      if (!condition()) throw new Error('not yet')
    },
    { timeout: 10_000, interval: 5 },
  )
}
