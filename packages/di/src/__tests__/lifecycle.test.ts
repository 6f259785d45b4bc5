/**
 * `@Handle` and the app lifecycle on the memory transport: handlers are subscribed on start
 * (constructor injection included), drained on stop (a running handler finishes and is settled),
 * `onStart`/`onStop` hooks run in order, and a failed start cleans up.
 */
import 'reflect-metadata'
import { type Bus, type BusEvent, isSwitchyardError, type Message } from '@switchyard/core'
import { inject, injectable, container as root } from 'tsyringe'
import { afterEach, expect, it } from 'vitest'
import {
  BUS,
  configure,
  Handle,
  handlersOf,
  type OnStart,
  type OnStop,
  type SwitchyardApp,
} from '../index.js'

const apps: SwitchyardApp[] = []
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.stop()))
})

async function waitFor(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

const topic = `orders.${Math.random().toString(36).slice(2, 8)}`

/** A plain dependency, injected by type (needs emitDecoratorMetadata under vitest and tsc alike). */
@injectable()
class Ledger {
  readonly entries: string[] = []
}

@injectable()
class Billing implements OnStart, OnStop {
  readonly calls: string[] = []
  release: () => void = () => undefined
  blocked = false
  finished: string[] = []

  constructor(
    readonly ledger: Ledger,
    @inject(BUS) readonly bus: Bus,
  ) {}

  @Handle(topic, { group: 'billing', retry: false })
  async onOrder(message: Message<{ n: number }>): Promise<void> {
    if (message.payload.n === 99) {
      this.blocked = true
      await new Promise<void>((resolve) => {
        this.release = resolve
      })
    }
    this.ledger.entries.push(`order ${message.payload.n}`)
    this.finished.push(message.id)
  }

  onStart(): void {
    this.calls.push('start')
  }
  onStop(): void {
    this.calls.push('stop')
  }
}

it('records @Handle bindings on the class, inherited by subclasses', () => {
  class Extra extends Billing {
    @Handle(`${topic}.extra`, { group: 'extra' })
    onExtra(): void {}
  }
  expect(handlersOf(Billing).map((b) => [b.topic, b.options.group, b.method])).toEqual([
    [topic, 'billing', 'onOrder'],
  ])
  expect(handlersOf(Extra).map((b) => b.method)).toEqual(['onOrder', 'onExtra'])
})

it('subscribes decorated handlers on start, with constructor injection', async () => {
  const app = await configure(root.createChildContainer(), {
    transport: { kind: 'memory' },
    services: [Billing],
  })
  apps.push(app)
  expect(app.handlers).toEqual([])
  await app.start()
  expect(app.state).toBe('started')
  expect(app.handlers.map((h) => `${h.service}.${h.method}`)).toEqual(['Billing.onOrder'])
  const billing = app.container.resolve(Billing)
  expect(billing.ledger).toBeInstanceOf(Ledger)
  expect(billing.bus).toBe(app.bus)
  expect(billing.calls).toEqual(['start'])

  await app.bus.publishBatch([1, 2, 3].map((n) => ({ topic, payload: { n } })))
  await waitFor(() => billing.ledger.entries.length === 3, 'three orders')
  expect(billing.ledger.entries.sort()).toEqual(['order 1', 'order 2', 'order 3'])
})

it('drains on stop: a handler in progress finishes and is acknowledged before the transport closes', async () => {
  const app = await configure(root.createChildContainer(), {
    transport: { kind: 'memory' },
    services: [Billing],
  })
  apps.push(app)
  await app.start()
  const billing = app.container.resolve(Billing)
  const events: BusEvent['type'][] = []
  app.bus.events$.subscribe((e) => events.push(e.type))

  await app.bus.publish(topic, { n: 99 }, { id: 'slow-one' })
  await waitFor(() => billing.blocked, 'the slow handler to start')
  let stopped = false
  let finishedWhenStopped: string[] = []
  const stopping = app.stop().then(() => {
    stopped = true
    finishedWhenStopped = [...billing.finished]
  })
  await waitFor(() => app.state === 'stopping', 'stopping')
  expect(billing.calls).toEqual(['start', 'stop']) // onStop ran first …
  expect(stopped).toBe(false) // … and stop waits for the running handler
  expect(app.transport.capabilities).toBeDefined()

  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve))
  expect(stopped).toBe(false) // still waiting, however many turns of the event loop pass

  billing.release()
  await stopping
  expect(finishedWhenStopped).toEqual(['slow-one'])
  expect(events).toContain('handled')
  expect(events).not.toContain('handler-failed')
  expect(events).not.toContain('settle-failed')
  expect(app.state).toBe('stopped')
  await expect(app.bus.publish(topic, { n: 1 })).rejects.toSatisfy((e) =>
    isSwitchyardError(e, 'TransportClosedError'),
  )
})

it('a failed start stops what it started and rejects with the cause', async () => {
  @injectable()
  class Broken {
    @Handle('not a topic!', { group: 'g' })
    on(): void {}
  }
  const app = await configure(root.createChildContainer(), {
    transport: { kind: 'memory' },
    services: [Billing, Broken],
  })
  await expect(app.start()).rejects.toSatisfy((e) => isSwitchyardError(e, 'InvalidTopicError'))
  expect(app.state).toBe('stopped')
  expect(app.handlers).toEqual([])
  const billing = app.container.resolve(Billing)
  expect(billing.calls).toEqual(['stop']) // onStart never ran; onStop ran once …
  await app.stop()
  expect(billing.calls).toEqual(['stop']) // … and a later stop() does not run it again
  await expect(app.start()).rejects.toSatisfy((e) => isSwitchyardError(e, 'ConfigError'))
})

it('start and stop are idempotent', async () => {
  const app = await configure(root.createChildContainer(), {
    transport: { kind: 'memory' },
    services: [Billing],
  })
  await Promise.all([app.start(), app.start()])
  expect(app.handlers).toHaveLength(1)
  await Promise.all([app.stop(), app.stop()])
  expect(app.state).toBe('stopped')
})
