/**
 * The Bus's middleware chain, dead letters and close semantics on `@switchyard/memory`, the
 * reference transport (in-process, no broker). Memory depends on core, so core does not list it
 * as a dependency (that would be a workspace cycle); tests resolve it from the workspace.
 * Retry delays are 0 here because memory holds delays on real timers; virtual-time tests of
 * delays run on the stub transport (`middleware.test.ts`).
 */
import { MemoryTransport } from '@switchyard/memory'
import { firstValueFrom, mergeMap, VirtualTimeScheduler } from 'rxjs'
import { afterEach, describe, expect, it } from 'vitest'
import {
  Bus,
  type BusEvent,
  bytesCodec,
  type ConsumeInterceptor,
  type Delivery,
  type Middleware,
  SwitchyardHeaders,
} from '../index.js'
import { uniqueTopic, waitFor } from './wait-for.js'

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()))
})

function setup(middleware: Middleware[] = []) {
  const transport = new MemoryTransport()
  const bus = new Bus(transport, { middleware, closeTransport: true })
  const events: BusEvent[] = []
  bus.events$.subscribe((e) => events.push(e))
  cleanups.push(() => bus.close({ timeoutMs: 100 }))
  return { transport, bus, events }
}

describe('Bus on the memory transport', () => {
  it('retries through the chain and dead-letters after the last attempt, outcomes seen by middleware', async () => {
    const kinds: string[] = []
    const { bus, transport } = setup([
      (next) => async (ctx) => {
        const outcome = await next(ctx)
        kinds.push(`${ctx.attempt}:${outcome.kind}`)
        return outcome
      },
    ])
    const topic = uniqueTopic()
    await transport.provision(`${topic}.dlq`, { groups: ['audit'] })
    const sub = bus.handle(
      topic,
      { group: 'g', retry: { attempts: 3, backoff: 'fixed', initialDelayMs: 0 } },
      () => {
        throw new Error('always')
      },
    )
    await sub.ready
    await bus.publish(topic, { n: 1 }, { id: 'm' })
    const letter = await firstValueFrom(bus.deadLetters(topic, { group: 'audit' }))
    expect(kinds).toEqual(['1:retry', '2:retry', '3:dead-letter'])
    expect(letter.message.payload).toMatchObject({
      originalTopic: topic,
      attempts: 3,
      errorMessage: 'always',
      value: { n: 1 },
    })
    await letter.ack()
  })

  it('never cascades a poison message: handle on <topic>.dlq drops it, deadLetters shows its raw bytes', async () => {
    const { bus, transport, events } = setup()
    const topic = uniqueTopic()
    await transport.provision(`${topic}.dlq`, { groups: ['audit', 'inspect'] })
    const main = bus.handle(topic, { group: 'g' }, () => {})
    const audit = bus.handle(`${topic}.dlq`, { group: 'audit' }, () => {})
    await Promise.all([main.ready, audit.ready])
    await bus.publish(topic, new TextEncoder().encode('\u0000not json'), { codec: bytesCodec, id: 'poison' })
    await waitFor(() => events.some((e) => e.type === 'dropped'), 'dropped by the dlq handler')
    const letter = await firstValueFrom(bus.deadLetters(topic, { group: 'inspect' }))
    expect(new TextDecoder().decode(letter.message.payload.raw)).toBe('\u0000not json')
    expect(letter.message.payload.decodeError?.name).toBe('DecodeError')
    expect(letter.message.headers[SwitchyardHeaders.errorName]).toBe('DecodeError')
    await letter.ack()
    expect(events.filter((e) => e.type === 'dead-lettered')).toHaveLength(1)
    expect(events.filter((e) => e.type === 'published' && e.topic === `${topic}.dlq.dlq`)).toHaveLength(0)
    expect(events.filter((e) => e.type === 'published' && e.topic === `${topic}.dlq`)).toHaveLength(1)
  })

  it('runs consumeInterceptors outermost first around each hand-out of consume and deadLetters; a replaced delivery settles the original', async () => {
    const transport = new MemoryTransport()
    const seen: string[] = []
    const settles: string[] = []
    const named =
      (name: string): ConsumeInterceptor =>
      (next, stream) =>
      (delivery) => {
        seen.push(`${name}:${stream.kind}:${stream.topic}:${stream.group}:${delivery.message.id}`)
        next(
          name === 'outer'
            ? {
                message: delivery.message,
                get settled() {
                  return delivery.settled
                },
                ack: () => {
                  settles.push(`ack ${delivery.message.id}`)
                  return delivery.ack()
                },
                nack: (options) => {
                  settles.push(`nack ${delivery.message.id}`)
                  return delivery.nack(options)
                },
              }
            : delivery,
        )
      }
    const bus = new Bus(transport, {
      consumeInterceptors: [named('outer'), named('inner')],
      closeTransport: true,
    })
    cleanups.push(() => bus.close({ timeoutMs: 100 }))
    const topic = uniqueTopic()
    await transport.provision(topic, { groups: ['g'] })
    await transport.provision(`${topic}.dlq`, { groups: ['audit'] })
    const consumed: Delivery<number>[] = []
    const letters: Delivery<unknown>[] = []
    bus.consume<number>(topic, { group: 'g' }).subscribe((d) => consumed.push(d))
    bus.deadLetters(topic, { group: 'audit' }).subscribe((d) => letters.push(d))
    await bus.publish(topic, 1, { id: 'a' })
    await waitFor(() => consumed.length === 1, 'the delivery')
    expect(consumed[0]?.message.payload).toBe(1)
    // The wrapper's nack reached the transport: the message comes again.
    await consumed[0]?.nack({ requeue: true })
    await waitFor(() => consumed.length === 2, 'the redelivery')
    await consumed[1]?.ack()
    expect(consumed[1]?.settled).toBe(true)
    await bus.publish(`${topic}.dlq`, 2, { id: 'b' })
    await waitFor(() => letters.length === 1, 'the dead letter')
    await letters[0]?.ack()
    expect(settles).toEqual(['nack a', 'ack a', 'ack b'])
    expect(seen).toEqual([
      `outer:consume:${topic}:g:a`,
      `inner:consume:${topic}:g:a`,
      `outer:consume:${topic}:g:a`,
      `inner:consume:${topic}:g:a`,
      `outer:dead-letters:${topic}.dlq:audit:b`,
      `inner:dead-letters:${topic}.dlq:audit:b`,
    ])
  })

  it('completes the documented consume pattern at bus.close() instead of crashing with TransportClosedError', async () => {
    const { bus, transport } = setup()
    const topic = uniqueTopic()
    await transport.provision(topic, { groups: ['g'] })
    let completed = false
    let failed: unknown
    const handled: number[] = []
    bus
      .consume<number>(topic, { group: 'g' })
      .pipe(mergeMap((d) => Promise.resolve(handled.push(d.message.payload)).then(() => d.ack())))
      .subscribe({ complete: () => (completed = true), error: (e) => (failed = e) })
    await bus.publishBatch([1, 2, 3].map((payload) => ({ topic, payload })))
    await waitFor(() => handled.length === 3, 'three handled')
    await bus.close()
    await waitFor(() => completed, 'completed')
    expect(failed).toBeUndefined()
    const error = await transport.publish([]).catch((e) => e)
    expect(error?.name).toBe('TransportClosedError')
  })

  it('reports a handler stuck past stuckAfterMs on virtual time, once, and stop() still ends it', async () => {
    const scheduler = new VirtualTimeScheduler()
    const transport = new MemoryTransport()
    const bus = new Bus(transport, { scheduler, stuckAfterMs: 30_000, closeTransport: true })
    const stuck: BusEvent[] = []
    bus.events$.subscribe((e) => e.type === 'handler-stuck' && stuck.push(e))
    const topic = uniqueTopic()
    let signal: AbortSignal | undefined
    const sub = bus.handle(topic, { group: 'g' }, (_m, ctx) => {
      signal = ctx.signal
      return new Promise(() => {})
    })
    await sub.ready
    await bus.publish(topic, 'hang', { id: 'h' })
    await waitFor(() => signal !== undefined, 'handler started')
    scheduler.schedule(() => {}, 29_999)
    scheduler.maxFrames = 29_999
    scheduler.flush()
    expect(stuck).toHaveLength(0)
    scheduler.maxFrames = Number.POSITIVE_INFINITY
    scheduler.schedule(() => {}, 100_000)
    scheduler.flush()
    expect(stuck).toMatchObject([
      { type: 'handler-stuck', elapsedMs: 30_000, message: { id: 'h', payload: 'hang' } },
    ])
    expect(signal?.aborted).toBe(false)
    const closing = bus.close({ timeoutMs: 1_000 })
    scheduler.flush()
    await closing
    expect(signal?.aborted).toBe(true)
  })
})
