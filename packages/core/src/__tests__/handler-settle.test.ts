import { Observable } from 'rxjs'
import { describe, expect, it } from 'vitest'
import { Bus } from '../index.js'
import { type Delivery, StatusSubject, type Transport } from '../spi.js'
import { waitFor } from './wait-for.js'

/**
 * A transport that hands out the first delivery at once and the others on the next macrotask
 * (after the first settlement's promise reactions ran); it publishes nowhere.
 */
function transportOf(deliveries: readonly Delivery[]): Transport {
  return {
    kind: 'fixed',
    capabilities: {
      orderedByKey: false,
      persistent: false,
      replay: false,
      priority: false,
      patterns: false,
      durableDelay: false,
      maxMessageBytes: undefined,
    },
    status$: new StatusSubject('connected').status$,
    connect: async () => {},
    publish: async () => {},
    provision: async () => {},
    deprovision: async () => {},
    subscribe: (_topic, options) =>
      new Observable<Delivery>((subscriber) => {
        options?.onReady?.()
        const [first, ...rest] = deliveries
        if (first !== undefined) subscriber.next(first)
        const timer = setTimeout(() => {
          for (const delivery of rest) subscriber.next(delivery)
        }, 0)
        return () => clearTimeout(timer)
      }),
    health: async () => ({ status: 'up', kind: 'fixed', state: 'connected', subscriptions: [], details: {} }),
    close: async () => {},
  }
}

function deliveryOf(id: string, ack: () => Promise<void>): Delivery {
  let settled = false
  return {
    message: {
      id,
      topic: 't',
      key: undefined,
      headers: {},
      payload: new TextEncoder().encode('1'),
      timestamp: 0,
      attempt: 1,
    },
    get settled() {
      return settled
    },
    ack: () => {
      settled = true
      return ack()
    },
    nack: async () => {
      settled = true
    },
  }
}

describe('Bus.handle settlement', () => {
  it('counts acks that share one fulfilled promise, and stop() still waits for a slow ack', async () => {
    const shared = Promise.resolve()
    let finishSlow: () => void = () => {}
    const slow = new Promise<void>((resolve) => {
      finishSlow = resolve
    })
    const acked: string[] = []
    const fast = (id: string) =>
      deliveryOf(id, () => {
        acked.push(id)
        return shared
      })
    const deliveries = [
      fast('a'),
      fast('b'),
      deliveryOf('slow', () => {
        acked.push('slow')
        return slow
      }),
      fast('c'),
      fast('d'),
    ]
    const bus = new Bus(transportOf(deliveries))
    const handled: string[] = []
    const run = bus.handle('t', { concurrency: 2 }, (m) => {
      handled.push(m.id)
    })
    await run.ready
    await waitFor(() => acked.length === 5, 'five acks')
    expect(acked).toEqual(['a', 'b', 'slow', 'c', 'd'])
    expect(handled).toEqual(['a', 'b', 'slow', 'c', 'd'])
    let stopped = false
    const stopping = run.stop({ timeoutMs: 5_000 }).then(() => {
      stopped = true
    })
    // Give the stop every chance to finish early: it must wait for the slow ack.
    for (let i = 0; i < 20; i++) await Promise.resolve()
    await new Promise((resolve) => setImmediate(resolve))
    expect(stopped).toBe(false)
    finishSlow()
    await stopping
    expect(stopped).toBe(true)
    await bus.close()
  })

  it('reports every ack that shared one rejected promise as settle-failed, and stop() still ends', async () => {
    let fail: (error: Error) => void = () => {}
    const shared = new Promise<void>((_resolve, reject) => {
      fail = reject
    })
    shared.catch(() => {})
    const bus = new Bus({
      ...transportOf([]),
      subscribe: (_topic, options) =>
        new Observable<Delivery>((subscriber) => {
          options?.onReady?.()
          for (const id of ['a', 'b', 'c']) subscriber.next(deliveryOf(id, () => shared))
        }),
    })
    const failed: string[] = []
    bus.events$.subscribe((e) => {
      if (e.type === 'settle-failed') failed.push(`${e.message.id}:${e.operation}:${e.error.message}`)
    })
    const run = bus.handle('t', { concurrency: 3 }, () => {})
    await run.ready
    let stopped = false
    const stopping = run.stop({ timeoutMs: 5_000 }).then(() => {
      stopped = true
    })
    await new Promise((resolve) => setImmediate(resolve))
    expect(stopped).toBe(false)
    fail(new Error('channel gone'))
    await stopping
    expect(failed).toEqual(['a:ack:channel gone', 'b:ack:channel gone', 'c:ack:channel gone'])
    await bus.close()
  })
})
