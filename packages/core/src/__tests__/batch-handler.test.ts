/**
 * `Bus.handleBatch` option checks, the outcome-count check, maxSize and stop on the memory
 * transport. Mixed outcomes on real brokers are in the contract suite.
 */
import { MemoryTransport } from '@switchyard/memory'
import { afterEach, describe, expect, it } from 'vitest'
import { Bus, type BusEvent, Outcome } from '../index.js'
import { configErrorField } from './config-field.js'
import { uniqueTopic, waitFor } from './wait-for.js'

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()))
})

function setup(): { bus: Bus; events: BusEvent[] } {
  const bus = new Bus(new MemoryTransport(), { closeTransport: true })
  const events: BusEvent[] = []
  bus.events$.subscribe((e) => events.push(e))
  cleanups.push(() => bus.close({ timeoutMs: 100 }))
  return { bus, events }
}

describe('Bus.handleBatch on memory', () => {
  it('refuses bad options with ConfigError naming the field', () => {
    const { bus } = setup()
    const topic = uniqueTopic()
    expect(configErrorField(() => bus.handleBatch(topic, { maxSize: 0 }, () => {}))).toBe('maxSize')
    expect(configErrorField(() => bus.handleBatch(topic, { maxWaitMs: -1 }, () => {}))).toBe('maxWaitMs')
    expect(configErrorField(() => bus.handleBatch(topic, { middleware: [] } as never, () => {}))).toBe(
      'middleware',
    )
    expect(configErrorField(() => bus.handleBatch(topic, {}, 'no' as never))).toBe('handler')
  })

  it('never passes more than maxSize messages, and acks all when the handler returns nothing', async () => {
    const { bus, events } = setup()
    const topic = uniqueTopic()
    const sizes: number[] = []
    await bus.handleBatch<number>(topic, { group: 'g', maxSize: 7, maxWaitMs: 20 }, (messages) => {
      sizes.push(messages.length)
    }).ready
    await bus.publishBatch(Array.from({ length: 50 }, (_, n) => ({ topic, payload: n })))
    await waitFor(() => events.filter((e) => e.type === 'handled').length === 50, '50 acked')
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(50)
    expect(Math.max(...sizes)).toBeLessThanOrEqual(7)
  })

  it('a wrong number of outcomes fails the whole batch (retried), not some of it', async () => {
    const { bus, events } = setup()
    const topic = uniqueTopic()
    let calls = 0
    await bus.handleBatch<number>(
      topic,
      { group: 'g', maxSize: 2, maxWaitMs: 50, retry: { attempts: 2, initialDelayMs: 1 } },
      (messages) => {
        calls++
        return calls === 1 ? [Outcome.ack()] : messages.map(() => Outcome.ack())
      },
    ).ready
    await bus.publishBatch([1, 2].map((payload) => ({ topic, payload })))
    await waitFor(() => events.filter((e) => e.type === 'handled').length === 2, 'both acked')
    const failed = events.filter((e) => e.type === 'handler-failed')
    expect(failed).toHaveLength(2)
    expect(failed.every((e) => e.type === 'handler-failed' && e.error instanceof TypeError)).toBe(true)
  })

  it('stop() waits for the running batch before it resolves', async () => {
    const { bus, events } = setup()
    const topic = uniqueTopic()
    let release!: () => void
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    let started = false
    const sub = bus.handleBatch<number>(topic, { group: 'g', maxSize: 5, maxWaitMs: 10 }, async () => {
      started = true
      await gate
    })
    await sub.ready
    await bus.publish(topic, 1)
    await waitFor(() => started, 'the batch started')
    let stopped = false
    const stopping = sub.stop({ timeoutMs: 5_000 }).then(() => {
      stopped = true
    })
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(stopped).toBe(false)
    release()
    await stopping
    expect(events.filter((e) => e.type === 'handled')).toHaveLength(1)
  })
})
