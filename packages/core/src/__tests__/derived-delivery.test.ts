import { MemoryTransport } from '@switchyard/memory'
import { afterEach, describe, expect, it } from 'vitest'
import { Bus, bytesCodec } from '../index.js'
import {
  type Delivery,
  type DerivedTransport,
  deriveTransport,
  isSwitchyardError,
  KeyedExecutor,
} from '../spi.js'
import { ScriptedDriver } from './scripted-driver.js'
import { waitFor } from './wait-for.js'

const opened: DerivedTransport[] = []
afterEach(async () => {
  await Promise.all(opened.splice(0).map((t) => t.close({ drain: false })))
})

async function subscribed(driver: ScriptedDriver, inFlight = 4) {
  const transport = deriveTransport(driver)
  opened.push(transport)
  const deliveries: Delivery[] = []
  transport.subscribe('orders', { inFlight }).subscribe((d) => void deliveries.push(d))
  await waitFor(() => driver.consumers.length === 1, 'the consumer')
  return { transport, deliveries, consumer: driver.consumers[0]! }
}

const settleCalls = (driver: ScriptedDriver) =>
  driver.calls.filter((call) => /^(ack|reject|requeue|delay)/.test(call))

describe('derived deliveries (settle-once)', () => {
  it('reports settled and reaches the driver once, whichever settle comes second', async () => {
    const driver = new ScriptedDriver()
    const { deliveries, consumer } = await subscribed(driver)
    consumer.deliver()
    consumer.deliver()
    const [first, second] = deliveries as [Delivery, Delivery]
    expect(first.settled).toBe(false)
    await first.nack({ requeue: false })
    expect(first.settled).toBe(true)
    await first.ack()
    await first.nack()
    await second.nack()
    await second.ack()
    expect(settleCalls(driver)).toEqual(['reject:m1', 'requeue:m2'])
  })

  it('rejects a bad delay with ConfigError and leaves the delivery unsettled', async () => {
    const driver = new ScriptedDriver({ delay: true })
    const { deliveries, consumer } = await subscribed(driver)
    consumer.deliver()
    const delivery = deliveries[0] as Delivery
    const refused = await delivery.nack({ delayMs: -1 }).catch((error: unknown) => error)
    expect(isSwitchyardError(refused, 'ConfigError')).toBe(true)
    expect(delivery.settled).toBe(false)
    await delivery.nack({ delayMs: 40 })
    expect(settleCalls(driver)).toEqual(['delay:40:m1'])
  })

  it('rejects settling after close with TransportClosedError naming the transport and topic', async () => {
    const driver = new ScriptedDriver()
    const { transport, deliveries, consumer } = await subscribed(driver)
    consumer.deliver()
    await transport.close({ drain: false })
    const refused = await (deliveries[0] as Delivery).ack().catch((error: unknown) => error)
    expect(isSwitchyardError(refused, 'TransportClosedError')).toBe(true)
    expect((refused as { context?: Record<string, unknown> }).context).toMatchObject({
      transport: driver.kind,
      topic: 'orders',
    })
    expect(settleCalls(driver)).toEqual([])
  })

  it('turns a settle after unsubscribe into a no-op that resolves', async () => {
    const driver = new ScriptedDriver()
    const transport = deriveTransport(driver)
    opened.push(transport)
    const deliveries: Delivery[] = []
    const subscription = transport.subscribe('orders').subscribe((d) => void deliveries.push(d))
    await waitFor(() => driver.consumers.length === 1, 'the consumer')
    driver.consumers[0]!.deliver()
    subscription.unsubscribe()
    await transport.whenDetached()
    await expect((deliveries[0] as Delivery).ack()).resolves.toBeUndefined()
    expect(deliveries[0]!.settled).toBe(true)
    expect(settleCalls(driver)).toEqual([])
  })
})

describe('KeyedExecutor with keyless items', () => {
  it('bounds concurrency, starts in arrival order and gives back what has not started', () => {
    const started: number[] = []
    const executor = new KeyedExecutor<number>(
      2,
      () => undefined,
      (item) => void started.push(item),
    )
    for (let i = 1; i <= 5; i++) executor.push(i)
    expect(started).toEqual([1, 2])
    expect(executor.running).toBe(2)
    expect(executor.pending).toBe(3)
    executor.release(1)
    expect(started).toEqual([1, 2, 3])
    expect(executor.takePending()).toEqual([4, 5])
    executor.release(2)
    executor.release(3)
    expect(executor.running).toBe(0)
    expect(started).toEqual([1, 2, 3])
  })

  it('runs items released inside start one after another without recursion', () => {
    let depth = 0
    let deepest = 0
    const started: number[] = []
    const executor: KeyedExecutor<number> = new KeyedExecutor<number>(
      1,
      () => undefined,
      (item) => {
        depth++
        deepest = Math.max(deepest, depth)
        started.push(item)
        executor.release(item)
        depth--
      },
    )
    for (let i = 0; i < 1000; i++) executor.push(i)
    expect(started).toHaveLength(1000)
    expect(started[999]).toBe(999)
    expect(deepest).toBe(1)
  })
})

describe('pausing the driver consumer at the in-flight limit', () => {
  it('does not pause for a delivery the stream settles synchronously', async () => {
    const driver = new ScriptedDriver({ keyOrder: true })
    const transport = deriveTransport(driver)
    opened.push(transport)
    const seen: string[] = []
    transport.subscribe('orders', { inFlight: 1 }).subscribe((d) => {
      seen.push(d.message.id)
      void d.ack()
    })
    await waitFor(() => driver.consumers.length === 1, 'the consumer')
    const consumer = driver.consumers[0]!
    for (let i = 0; i < 3; i++) consumer.deliver()
    expect(seen).toEqual(['m1', 'm2', 'm3'])
    expect(driver.calls.filter((call) => call === 'pause:orders' || call === 'resume:orders')).toEqual([])
    expect(settleCalls(driver)).toEqual([])
    await waitFor(() => settleCalls(driver).length === 3, 'the acks')
  })

  it('pauses before deliver returns when the delivery stays unsettled, and resumes below the limit', async () => {
    const driver = new ScriptedDriver({ keyOrder: true })
    const { deliveries, consumer } = await subscribed(driver, 1)
    consumer.deliver()
    expect(driver.calls.at(-1)).toBe('pause:orders')
    consumer.deliver()
    expect(deliveries).toHaveLength(1)
    await deliveries[0]!.ack()
    expect(deliveries).toHaveLength(2)
    expect(driver.calls).not.toContain('resume:orders')
    await deliveries[1]!.ack()
    expect(driver.calls.filter((call) => call === 'pause:orders' || call === 'resume:orders')).toEqual([
      'pause:orders',
      'resume:orders',
    ])
  })
})

describe('the in-flight bound where the driver keeps key order', () => {
  it('hands out what a driver over-delivers in order, never more than inFlight at once', async () => {
    const driver = new ScriptedDriver({ keyOrder: true })
    const { deliveries, consumer } = await subscribed(driver, 2)
    for (let i = 0; i < 6; i++) consumer.deliver()
    let unsettled = deliveries.length
    expect(unsettled).toBe(2)
    let most = unsettled
    for (let next = 0; next < deliveries.length; next++) {
      await deliveries[next]!.ack()
      unsettled = deliveries.filter((d) => !d.settled).length
      most = Math.max(most, unsettled)
    }
    expect(deliveries.map((d) => d.message.id)).toEqual(['m1', 'm2', 'm3', 'm4', 'm5', 'm6'])
    expect(most).toBe(2)
  })

  it('drops the waiting ones on unsubscribe; a drain then does not wait for them', async () => {
    const driver = new ScriptedDriver({ keyOrder: true })
    const transport = deriveTransport(driver)
    opened.push(transport)
    const deliveries: Delivery[] = []
    const subscription = transport
      .subscribe('orders', { inFlight: 1 })
      .subscribe((d) => void deliveries.push(d))
    await waitFor(() => driver.consumers.length === 1, 'the consumer')
    for (let i = 0; i < 3; i++) driver.consumers[0]!.deliver()
    expect(deliveries).toHaveLength(1)
    subscription.unsubscribe()
    await deliveries[0]!.ack()
    expect(deliveries).toHaveLength(1)
    await transport.whenDetached()
    expect(driver.calls).toContain('stop:orders')
    // Nothing handed out is unsettled: the drain must not wait out its 60 s bound.
    const closing = transport.close({ drain: true, timeoutMs: 60_000 }).then(() => 'closed')
    const late = new Promise((resolve) => setTimeout(() => resolve('still draining'), 1000))
    await expect(Promise.race([closing, late])).resolves.toBe('closed')
    expect(settleCalls(driver)).toEqual([])
  })
})

describe('what the application holds', () => {
  it('a delivery shows its message and nothing that reaches the broker past settle-once', async () => {
    const driver = new ScriptedDriver()
    const { deliveries, consumer } = await subscribed(driver)
    consumer.deliver()
    expect(Object.keys(deliveries[0] as object)).toEqual(['message'])
  })

  it('Bus.consume with bytesCodec hands out the message as published, behind a settle-once delivery', async () => {
    const transport = new MemoryTransport()
    const bus = new Bus(transport, { codec: bytesCodec, closeTransport: true })
    try {
      await transport.provision('orders', { groups: ['g'] })
      const payload = new Uint8Array([1, 2, 3])
      await bus.publish('orders', payload, { key: 'k', headers: { a: 'b' } })
      const seen: Delivery<Uint8Array>[] = []
      const subscription = bus
        .consume<Uint8Array>('orders', { group: 'g' })
        .subscribe((d) => void seen.push(d))
      await waitFor(() => seen.length === 1, 'the delivery')
      const delivery = seen[0]!
      expect(Object.keys(delivery)).toEqual(['message'])
      expect(delivery.message).toMatchObject({ topic: 'orders', key: 'k', attempt: 1, payload })
      expect(delivery.message.headers.a).toBe('b')
      await delivery.ack()
      await delivery.nack()
      expect(delivery.settled).toBe(true)
      subscription.unsubscribe()
    } finally {
      await bus.close({ drain: false })
    }
  })
})
