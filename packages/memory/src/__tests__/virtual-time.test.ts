/**
 * Delay, retry and timeout on the memory transport run on virtual time: the transport (broker
 * delays) and the Bus (backoff, timeouts) share one `VirtualTimeScheduler`, and no test waits for
 * the wall clock.
 */
import { Bus, type Message } from '@switchyard/core'
import { VirtualTimeScheduler } from 'rxjs'
import { afterEach, describe, expect, it } from 'vitest'
import { MemoryTransport } from '../index.js'
import { settle, unique } from './helpers.js'

const buses: Bus[] = []
afterEach(async () => {
  await Promise.all(buses.splice(0).map((b) => b.close({ drain: false })))
})

function setup(): { scheduler: VirtualTimeScheduler; bus: Bus } {
  const scheduler = new VirtualTimeScheduler()
  const transport = new MemoryTransport(undefined, { scheduler })
  const bus = new Bus(transport, { scheduler })
  buses.push(bus)
  return { scheduler, bus }
}

/** Runs what is due on the virtual clock, then lets the handlers it started run. */
async function advance(scheduler: VirtualTimeScheduler, until: () => boolean): Promise<void> {
  for (let turn = 0; turn < 50 && !until(); turn++) {
    await settle()
    scheduler.flush()
    await settle()
  }
}

describe('memory on virtual time', () => {
  it('retries a failing handler after its backoff delays, held by the broker on the virtual clock', async () => {
    const { scheduler, bus } = setup()
    const topic = unique('retry')
    const attempts: { attempt: number; at: number }[] = []
    const handled = bus.handle(
      topic,
      { group: 'g', retry: { attempts: 3, backoff: 'fixed', initialDelayMs: 1_000, jitter: false } },
      (message: Message<unknown>) => {
        attempts.push({ attempt: message.attempt, at: scheduler.now() })
        if (message.attempt < 3) throw new Error('not yet')
      },
    )
    await handled.ready
    await bus.publish(topic, { n: 1 })
    await advance(scheduler, () => attempts.length === 3)
    expect(attempts).toEqual([
      { attempt: 1, at: 0 },
      { attempt: 2, at: 1_000 },
      { attempt: 3, at: 2_000 },
    ])
  })

  it('times out a handler that never settles and retries it, without waiting for the wall clock', async () => {
    const { scheduler, bus } = setup()
    const topic = unique('timeout')
    const attempts: { attempt: number; at: number }[] = []
    const handled = bus.handle(
      topic,
      {
        group: 'g',
        timeoutMs: 30_000,
        retry: { attempts: 2, backoff: 'fixed', initialDelayMs: 500, jitter: false },
      },
      (message: Message<unknown>) => {
        attempts.push({ attempt: message.attempt, at: scheduler.now() })
        if (message.attempt === 1) return new Promise(() => undefined)
        return undefined
      },
    )
    await handled.ready
    const started = Date.now()
    await bus.publish(topic, { n: 1 })
    await advance(scheduler, () => attempts.length === 2)
    expect(attempts).toEqual([
      { attempt: 1, at: 0 },
      { attempt: 2, at: 30_500 },
    ])
    expect(Date.now() - started).toBeLessThan(10_000)
  })
})
