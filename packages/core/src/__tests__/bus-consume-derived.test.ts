/**
 * `Bus.consume` over a derived transport, with the identity codec (deliveries handed out as the
 * transport made them, settles counted through the internal settle watch) and with a decoding
 * codec (wrapped views): the drain at `close()` must behave the same on both paths.
 */
import { VirtualTimeScheduler } from 'rxjs'
import { afterEach, describe, expect, it } from 'vitest'
import { Bus, bytesCodec, type Codec, type Delivery, isSwitchyardError, stringCodec } from '../index.js'
import { type DerivedTransport, deriveTransport } from '../spi.js'
import { ScriptedDriver } from './scripted-driver.js'
import { waitFor } from './wait-for.js'

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()))
})

function setup(codec: Codec<unknown>) {
  const driver = new ScriptedDriver({ keyOrder: true })
  const transport: DerivedTransport = deriveTransport(driver)
  // Virtual time that never advances: the drain's timeout never ends a close, only settles do.
  const bus = new Bus(transport, { codec, scheduler: new VirtualTimeScheduler() })
  cleanups.push(async () => {
    await bus.close({ drain: false })
    await transport.close({ drain: false })
  })
  const held: Delivery<unknown>[] = []
  let completed = false
  bus.consume('orders', { group: 'g', inFlight: 10 }).subscribe({
    next: (d) => void held.push(d),
    complete: () => (completed = true),
  })
  return { driver, bus, held, completed: () => completed }
}

/** Lets `close()` run as far as it can without the test settling anything. */
const settle = () => new Promise((resolve) => setImmediate(resolve))

describe.each([
  ['the identity codec (deliveries handed out as they are)', bytesCodec as Codec<unknown>],
  ['a decoding codec (decoded views)', stringCodec as Codec<unknown>],
])('Bus.consume over a derived transport with %s', (_name, codec) => {
  it('waits at close for a handed-out delivery, so its ack reaches the driver, then completes', async () => {
    const { driver, bus, held, completed } = setup(codec)
    await waitFor(() => driver.consumers.length === 1, 'the consumer')
    driver.consumers[0]!.deliver(undefined, 'a')
    expect(held).toHaveLength(1)
    let closed = false
    const closing = bus.close({ timeoutMs: 5_000 }).then(() => (closed = true))
    await settle()
    expect(closed).toBe(false)
    expect(completed()).toBe(false)
    await held[0]!.ack()
    await closing
    expect(driver.calls).toContain('ack:a')
    expect(completed()).toBe(true)
  })

  it('counts a delivery settled twice once: close still waits for the other one', async () => {
    const { driver, bus, held } = setup(codec)
    await waitFor(() => driver.consumers.length === 1, 'the consumer')
    driver.consumers[0]!.deliver(undefined, 'a')
    driver.consumers[0]!.deliver(undefined, 'b')
    await held[0]!.ack()
    await held[0]!.ack()
    await held[0]!.nack()
    let closed = false
    const closing = bus.close({ timeoutMs: 5_000 }).then(() => (closed = true))
    await settle()
    expect(closed).toBe(false)
    await held[1]!.nack({ requeue: true })
    await closing
    expect(driver.calls.filter((c) => c.endsWith(':a') || c.endsWith(':b'))).toEqual(['ack:a', 'requeue:b'])
  })

  it('keeps waiting for a delivery whose nack was refused for bad options', async () => {
    const { driver, bus, held } = setup(codec)
    await waitFor(() => driver.consumers.length === 1, 'the consumer')
    driver.consumers[0]!.deliver(undefined, 'a')
    const refused = await held[0]!.nack({ delayMs: -1 }).then(
      () => undefined,
      (error: unknown) => error,
    )
    expect(isSwitchyardError(refused, 'ConfigError')).toBe(true)
    let closed = false
    const closing = bus.close({ timeoutMs: 5_000 }).then(() => (closed = true))
    await settle()
    expect(closed).toBe(false)
    await held[0]!.ack()
    await closing
    expect(driver.calls).toContain('ack:a')
  })

  it('hands out nothing once draining; what arrives then goes back to the broker unsettled', async () => {
    const { driver, bus, held } = setup(codec)
    await waitFor(() => driver.consumers.length === 1, 'the consumer')
    const consumer = driver.consumers[0]!
    consumer.deliver(undefined, 'first')
    const closing = bus.close({ timeoutMs: 5_000 })
    const late = consumer.deliver(undefined, 'late')
    expect(held.map((d) => d.message.id)).toEqual(['first'])
    await held[0]!.ack()
    await closing
    expect(late.settledAs).toBeUndefined()
    expect(driver.calls).toContain('stop:orders')
  })
})
