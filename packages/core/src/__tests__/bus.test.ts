import { firstValueFrom, VirtualTimeScheduler } from 'rxjs'
import { filter, take, toArray } from 'rxjs/operators'
import { afterEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import {
  Bus,
  type BusEvent,
  bytesCodec,
  type Delivery,
  isSwitchyardError,
  type OutgoingMessage,
  SwitchyardHeaders,
  schemaCodec,
} from '../index.js'
import { StubTransport } from './stub-transport.js'
import { uniqueTopic, waitFor } from './wait-for.js'

const buses: Bus[] = []
function setup(options: ConstructorParameters<typeof Bus>[1] = {}) {
  const transport = new StubTransport()
  const bus = new Bus(transport, options)
  const events: BusEvent[] = []
  bus.events$.subscribe((e) => events.push(e))
  buses.push(bus)
  return { transport, bus, events }
}

afterEach(async () => {
  await Promise.all(buses.splice(0).map((b) => b.close({ timeoutMs: 100 })))
})

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes)
const toDlq = (transport: StubTransport, topic: string): OutgoingMessage[] =>
  transport.published.filter((m) => m.topic === `${topic}.dlq`)

describe('Bus.publish', () => {
  it('encodes JSON and sets id, timestamp, key, headers and content-type', async () => {
    const { transport, bus } = setup()
    const topic = uniqueTopic()
    const before = Date.now()
    await bus.publish(topic, { a: 1 }, { key: 'k1', headers: { 'x-user': 'u' } })
    expect(transport.published).toHaveLength(1)
    const [m] = transport.published as [OutgoingMessage]
    expect(text(m.payload)).toBe('{"a":1}')
    expect(m.key).toBe('k1')
    expect(m.headers).toEqual({ 'x-user': 'u', 'content-type': 'application/json' })
    expect(m.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(m.timestamp).toBeGreaterThanOrEqual(before)
  })

  it('applies hooks.beforePublish and keeps a given id', async () => {
    const { transport, bus } = setup({
      hooks: { beforePublish: (m) => ({ ...m, headers: { ...m.headers, traceparent: 'tp' } }) },
    })
    await bus.publish(uniqueTopic(), 'x', { id: 'fixed-id' })
    expect(transport.published[0]?.id).toBe('fixed-id')
    expect(transport.published[0]?.headers.traceparent).toBe('tp')
  })

  it('runs publishInterceptors outermost first, after beforePublish, around the transport call', async () => {
    const seen: string[] = []
    const { transport, bus } = setup({
      hooks: { beforePublish: (m) => ({ ...m, headers: { ...m.headers, hooked: 'yes' } }) },
      publishInterceptors: [
        (next) => async (messages) => {
          seen.push(`outer ${messages.length} ${messages[0]?.headers.hooked}`)
          await next(messages.map((m) => ({ ...m, headers: { ...m.headers, traced: 'outer' } })))
          seen.push(`outer done, transport calls ${transport.publishCalls}`)
        },
        (next) => (messages) => {
          seen.push(`inner ${messages[0]?.headers.traced}`)
          return next(messages)
        },
      ],
    })
    const topic = uniqueTopic()
    await bus.publishBatch([
      { topic, payload: 1 },
      { topic, payload: 2 },
    ])
    expect(seen).toEqual(['outer 2 yes', 'inner outer', 'outer done, transport calls 1'])
    expect(transport.published.map((m) => m.headers.traced)).toEqual(['outer', 'outer'])
  })

  it('passes dead-letter copies through publishInterceptors', async () => {
    const topics: string[] = []
    const { bus } = setup({
      publishInterceptors: [
        (next) => (messages) => {
          for (const m of messages) topics.push(m.topic)
          return next(messages)
        },
      ],
    })
    const topic = uniqueTopic()
    const sub = bus.handle(topic, { retry: false }, () => {
      throw new Error('no')
    })
    await sub.ready
    await bus.publish(topic, 1)
    await waitFor(() => topics.includes(`${topic}.dlq`), 'the dead-letter publish')
    expect(topics).toEqual([topic, `${topic}.dlq`])
  })

  it('turns a throwing or rejecting publish interceptor into a rejection, and refuses a non-function', async () => {
    const { transport, bus } = setup({
      publishInterceptors: [
        () => () => {
          throw new Error('interceptor broke')
        },
      ],
    })
    await expect(bus.publish(uniqueTopic(), 1)).rejects.toThrow('interceptor broke')
    expect(transport.publishCalls).toBe(0)
    const rejecting = setup({ publishInterceptors: [() => () => Promise.reject(new Error('refused'))] })
    await expect(rejecting.bus.publish(uniqueTopic(), 1)).rejects.toThrow('refused')
    expect(() => setup({ publishInterceptors: [42 as never] })).toThrow(/publishInterceptors\[0\]/)
  })

  it('turns a throwing beforePublish hook into a rejection', async () => {
    const { transport, bus } = setup({
      hooks: {
        beforePublish: () => {
          throw new Error('hook broke')
        },
      },
    })
    await expect(bus.publish(uniqueTopic(), 1)).rejects.toThrow('hook broke')
    expect(transport.publishCalls).toBe(0)
  })

  it('publishBatch makes exactly one transport call and sends nothing if one entry is invalid', async () => {
    const { transport, bus } = setup()
    const topic = uniqueTopic()
    await bus.publishBatch([
      { topic, payload: 1 },
      { topic, payload: 2, key: 'k' },
      { topic: `${topic}.other`, payload: 3 },
    ])
    expect(transport.publishCalls).toBe(1)
    expect(transport.published.map((m) => text(m.payload))).toEqual(['1', '2', '3'])
    const error = await bus
      .publishBatch([
        { topic, payload: 4 },
        { topic: '', payload: 5 },
      ])
      .catch((e) => e)
    expect(isSwitchyardError(error, 'InvalidTopicError')).toBe(true)
    expect(transport.publishCalls).toBe(1)
  })

  it('rejects an empty topic with InvalidTopicError', async () => {
    const { transport, bus } = setup()
    const error = await bus.publish('', 1).catch((e) => e)
    expect(isSwitchyardError(error, 'InvalidTopicError')).toBe(true)
    expect(transport.publishCalls).toBe(0)
  })

  it('checks every topic of every call, even right after a valid one', async () => {
    const { transport, bus } = setup()
    const topic = uniqueTopic()
    await bus.publish(topic, 1)
    for (const bad of [undefined, '', 'a b', `${topic}!`]) {
      const error = await bus.publish(bad as unknown as string, 1).catch((e) => e)
      expect(isSwitchyardError(error, 'InvalidTopicError')).toBe(true)
      const batchError = await bus
        .publishBatch([
          { topic, payload: 1 },
          { topic: bad as unknown as string, payload: 2 },
        ])
        .catch((e) => e)
      expect(isSwitchyardError(batchError, 'InvalidTopicError')).toBe(true)
    }
    await bus.publish(topic, 2)
    expect(transport.published.map((m) => m.topic)).toEqual([topic, topic])
  })

  it('gives each message of a batch its own id and the batch one timestamp', async () => {
    const { transport, bus } = setup()
    const topic = uniqueTopic()
    const before = Date.now()
    await bus.publishBatch(Array.from({ length: 50 }, (_, n) => ({ topic, payload: { n } })))
    const after = Date.now()
    const sent = transport.published
    expect(new Set(sent.map((m) => m.id)).size).toBe(50)
    expect(new Set(sent.map((m) => m.timestamp)).size).toBe(1)
    expect(sent[0]?.timestamp).toBeGreaterThanOrEqual(before)
    expect(sent[0]?.timestamp).toBeLessThanOrEqual(after)
    expect(sent.map((m) => text(m.payload))).toEqual(Array.from({ length: 50 }, (_, n) => `{"n":${n}}`))
  })

  it('writes content-type per codec and keeps given headers apart from the defaults', async () => {
    const { transport, bus } = setup()
    const topic = uniqueTopic()
    await bus.publish(topic, 1)
    await bus.publish(topic, new Uint8Array([1]), { codec: bytesCodec })
    await bus.publish(topic, 2, { headers: { 'x-a': 'a' } })
    await bus.publish(topic, 3)
    const headers = transport.published.map((m) => m.headers)
    expect(headers).toEqual([
      { 'content-type': 'application/json' },
      { 'content-type': 'application/octet-stream' },
      { 'x-a': 'a', 'content-type': 'application/json' },
      { 'content-type': 'application/json' },
    ])
    // Default headers are shared between messages, so they are frozen: no message can change another's.
    expect(Object.isFrozen(headers[0])).toBe(true)
  })

  it('rejects an unencodable value with EncodeError and publishes nothing', async () => {
    const { transport, bus } = setup()
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    const error = await bus.publish(uniqueTopic(), cyclic).catch((e) => e)
    expect(isSwitchyardError(error, 'EncodeError')).toBe(true)
    const invalid = await bus
      .publish(uniqueTopic(), { id: 3 } as unknown as { id: string }, {
        codec: schemaCodec(z.object({ id: z.string() })),
      })
      .catch((e) => e)
    expect(isSwitchyardError(invalid, 'EncodeError')).toBe(true)
    expect(invalid.message).toContain('id: ')
    expect(transport.publishCalls).toBe(0)
  })

  it('rejects publish after close with TransportClosedError', async () => {
    const { bus } = setup()
    await bus.close()
    const error = await bus.publish(uniqueTopic(), 1).catch((e) => e)
    expect(isSwitchyardError(error, 'TransportClosedError')).toBe(true)
    expect(() => bus.handle(uniqueTopic(), {}, () => {})).toThrow(/closed/)
  })

  it('rejects a bad priority with ConfigError naming the field', async () => {
    const { bus } = setup()
    const error = await bus.publish(uniqueTopic(), 1, { priority: 12 }).catch((e) => e)
    expect(isSwitchyardError(error, 'ConfigError')).toBe(true)
    expect(error.context.field).toBe('priority')
  })
})

describe('Bus.consume', () => {
  it('decodes payloads and dead-letters an undecodable one without erroring the stream', async () => {
    const { transport, bus, events } = setup()
    const topic = uniqueTopic()
    const deliveries: Delivery<{ n: number }>[] = []
    const subscription = bus.consume<{ n: number }>(topic, { group: 'g' }).subscribe({
      next: (d) => {
        deliveries.push(d)
        void d.ack()
      },
      error: (e) => deliveries.push(e),
    })
    await bus.publish(topic, new TextEncoder().encode('not json'), { codec: bytesCodec, id: 'bad' })
    await bus.publish(topic, { n: 1 })
    await bus.publish(topic, { n: 2 })
    await waitFor(() => deliveries.length === 2, 'two deliveries')
    expect(deliveries.map((d) => d.message.payload)).toEqual([{ n: 1 }, { n: 2 }])
    await waitFor(() => toDlq(transport, topic).length === 1, 'dead letter')
    const [dead] = toDlq(transport, topic) as [OutgoingMessage]
    expect(dead.id).toBe('bad')
    expect(text(dead.payload)).toBe('not json')
    expect(dead.headers[SwitchyardHeaders.errorName]).toBe('DecodeError')
    expect(dead.headers[SwitchyardHeaders.errorMessage]).toContain('payload is not valid JSON')
    expect(dead.headers[SwitchyardHeaders.originalGroup]).toBe('g')
    expect(events.filter((e) => e.type === 'decode-failed')).toHaveLength(1)
    await waitFor(() => events.some((e) => e.type === 'dead-lettered'), 'dead-lettered event')
    expect(transport.unsettled).toBe(0)
    expect(transport.queued(topic, 'g')).toBe(0)
    expect(subscription.closed).toBe(false)
    subscription.unsubscribe()
  })

  it('validates with a schema codec and dead-letters invalid payloads with their issue paths', async () => {
    const { transport, bus } = setup()
    const topic = uniqueTopic()
    const codec = schemaCodec(z.object({ id: z.string(), tags: z.array(z.string()) }))
    const got = firstValueFrom(bus.consume(topic, { group: 'g', codec }).pipe(take(1)))
    await bus.publish(topic, { id: 1, tags: ['a', 2] })
    await bus.publish(topic, { id: 'ok', tags: [] })
    const delivery = await got
    expect(delivery.message.payload).toEqual({ id: 'ok', tags: [] })
    await delivery.ack()
    await waitFor(() => toDlq(transport, topic).length === 1, 'dead letter')
    const reason = toDlq(transport, topic)[0]?.headers[SwitchyardHeaders.errorMessage] ?? ''
    expect(reason).toContain('id: ')
    expect(reason).toContain('tags.1: ')
  })

  it('keeps arrival order with an asynchronous codec', async () => {
    const { bus } = setup()
    const topic = uniqueTopic()
    const slowFirst = {
      contentType: 'text/plain',
      encode: (value: string) => new TextEncoder().encode(value),
      decode: async (bytes: Uint8Array) => {
        const value = new TextDecoder().decode(bytes)
        if (value === 'first') await new Promise((resolve) => setTimeout(resolve, 20))
        return value
      },
    }
    const got = firstValueFrom(bus.consume(topic, { group: 'g', codec: slowFirst }).pipe(take(3), toArray()))
    await bus.publishBatch(
      ['first', 'second', 'third'].map((payload) => ({ topic, payload, codec: slowFirst })),
    )
    expect((await got).map((d) => d.message.payload)).toEqual(['first', 'second', 'third'])
  })

  it('errors the stream with InvalidTopicError for an invalid topic', async () => {
    const { bus } = setup()
    const error = await firstValueFrom(bus.consume('bad topic!')).catch((e) => e)
    expect(isSwitchyardError(error, 'InvalidTopicError')).toBe(true)
  })
})

describe('Bus.handle', () => {
  it('acks a handler that resolves and passes the decoded message', async () => {
    const { transport, bus, events } = setup()
    const topic = uniqueTopic()
    const seen: unknown[] = []
    const sub = bus.handle<{ n: number }>(topic, { group: 'g' }, async (m) => {
      seen.push(m.payload.n)
    })
    await sub.ready
    await bus.publishBatch([1, 2, 3].map((n) => ({ topic, payload: { n } })))
    await waitFor(() => events.filter((e) => e.type === 'handled').length === 3, 'three handled')
    expect(seen).toEqual([1, 2, 3])
    await sub.stop()
    expect(transport.queued(topic, 'g')).toBe(0)
    expect(toDlq(transport, topic)).toHaveLength(0)
  })

  it('retries with backoff, then succeeds', async () => {
    const { transport, bus, events } = setup()
    const topic = uniqueTopic()
    const attempts: number[] = []
    bus.handle(topic, { group: 'g', retry: { attempts: 3, backoff: 'fixed', initialDelayMs: 5 } }, (m) => {
      attempts.push(m.attempt)
      if (m.attempt < 3) throw new Error(`fail ${m.attempt}`)
    })
    await bus.publish(topic, 'x')
    await waitFor(() => events.some((e) => e.type === 'handled'), 'handled')
    expect(attempts).toEqual([1, 2, 3])
    const failed = events.filter((e) => e.type === 'handler-failed')
    expect(failed.map((e) => e.type === 'handler-failed' && [e.willRetry, e.delayMs])).toEqual([
      [true, 5],
      [true, 5],
    ])
    expect(toDlq(transport, topic)).toHaveLength(0)
  })

  it('dead-letters after the last attempt with every header, then acks', async () => {
    const { transport, bus, events } = setup()
    const topic = uniqueTopic()
    let calls = 0
    bus.handle(topic, { group: 'billing', retry: { attempts: 3, initialDelayMs: 1 } }, () => {
      calls++
      throw new Error('x'.repeat(1500))
    })
    const before = Date.now()
    await bus.publish(topic, { v: 1 }, { id: 'order-1', key: 'k', headers: { 'x-app': 'a' } })
    await waitFor(() => toDlq(transport, topic).length === 1, 'dead letter')
    expect(calls).toBe(3)
    const [dead] = toDlq(transport, topic) as [OutgoingMessage]
    const original = transport.published[0] as OutgoingMessage
    expect(dead.id).toBe('order-1')
    expect(dead.key).toBe('k')
    expect(dead.payload).toEqual(original.payload)
    const h = dead.headers
    expect(h['x-app']).toBe('a')
    expect(h['content-type']).toBe('application/json')
    expect(h[SwitchyardHeaders.originalTopic]).toBe(topic)
    expect(h[SwitchyardHeaders.originalGroup]).toBe('billing')
    expect(h[SwitchyardHeaders.errorName]).toBe('Error')
    expect(h[SwitchyardHeaders.errorMessage]).toHaveLength(1000)
    expect(h[SwitchyardHeaders.errorRetryable]).toBe('false')
    expect(h[SwitchyardHeaders.attempts]).toBe('3')
    const first = Date.parse(h[SwitchyardHeaders.firstFailureAt] ?? '')
    const deadAt = Date.parse(h[SwitchyardHeaders.deadLetteredAt] ?? '')
    expect(first).toBeGreaterThanOrEqual(before)
    expect(deadAt).toBeGreaterThanOrEqual(first)
    await waitFor(() => events.some((e) => e.type === 'dead-lettered'), 'dead-lettered event')
    expect(events.filter((e) => e.type === 'handler-failed' && !e.willRetry)).toHaveLength(1)
    expect(transport.queued(topic, 'billing')).toBe(0)
  })

  it('dead-letters a decode failure at once without retrying or calling the handler', async () => {
    const { transport, bus } = setup()
    const topic = uniqueTopic()
    let calls = 0
    bus.handle(topic, { group: 'g', retry: 5 }, () => {
      calls++
    })
    await bus.publish(topic, new Uint8Array([0x7b, 0x7b]), { codec: bytesCodec })
    await waitFor(() => toDlq(transport, topic).length === 1, 'dead letter')
    const h = toDlq(transport, topic)[0]?.headers ?? {}
    expect(h[SwitchyardHeaders.errorName]).toBe('DecodeError')
    expect(h[SwitchyardHeaders.attempts]).toBe('1')
    expect(calls).toBe(0)
  })

  it('gives a message back (nack with delay) when the dead-letter publish fails, never dropping it', async () => {
    const { transport, bus, events } = setup()
    const topic = uniqueTopic()
    transport.failPublishTo = { topic: `${topic}.dlq`, error: new Error('dlq down') }
    let calls = 0
    bus.handle(topic, { group: 'g', retry: false }, () => {
      calls++
      throw new Error('bad')
    })
    await bus.publish(topic, 1)
    await waitFor(() => events.some((e) => e.type === 'dead-letter-failed'), 'dead-letter-failed')
    const failed = events.find((e) => e.type === 'dead-letter-failed')
    expect(failed?.type === 'dead-letter-failed' && failed.error.message).toBe('dlq down')
    transport.failPublishTo = undefined
    await waitFor(() => toDlq(transport, topic).length === 1, 'dead letter after recovery', 5_000)
    expect(calls).toBe(2)
    expect(toDlq(transport, topic)[0]?.headers[SwitchyardHeaders.attempts]).toBe('2')
  })

  it('reports a handler throwing a string as an Error with that message', async () => {
    const { transport, bus } = setup()
    const topic = uniqueTopic()
    bus.handle(topic, { group: 'g', retry: false }, () => {
      throw 'nope'
    })
    await bus.publish(topic, 1)
    await waitFor(() => toDlq(transport, topic).length === 1, 'dead letter')
    const h = toDlq(transport, topic)[0]?.headers ?? {}
    expect(h[SwitchyardHeaders.errorName]).toBe('Error')
    expect(h[SwitchyardHeaders.errorMessage]).toBe('nope')
    expect(h[SwitchyardHeaders.attempts]).toBe('1')
  })

  it('times out a handler on the injected scheduler, aborting its signal', async () => {
    const scheduler = new VirtualTimeScheduler()
    const { transport, bus } = setup({ scheduler })
    const topic = uniqueTopic()
    let signal: AbortSignal | undefined
    bus.handle(topic, { group: 'g', retry: false, timeoutMs: 60_000 }, (_m, context) => {
      signal = context.signal
      return new Promise(() => {})
    })
    await bus.publish(topic, 1)
    await waitFor(() => signal !== undefined, 'handler started')
    expect(signal?.aborted).toBe(false)
    scheduler.flush()
    await waitFor(() => toDlq(transport, topic).length === 1, 'dead letter')
    expect(signal?.aborted).toBe(true)
    expect(toDlq(transport, topic)[0]?.headers[SwitchyardHeaders.errorName]).toBe('TimeoutError')
    expect(toDlq(transport, topic)[0]?.headers[SwitchyardHeaders.errorRetryable]).toBe('true')
  })

  it('wraps each call in the Bus middleware', async () => {
    const order: string[] = []
    const { bus, events } = setup({
      middleware: [
        (next) => async (ctx) => {
          order.push('before')
          const outcome = await next(ctx)
          order.push(`after ${outcome.kind}`)
          return outcome
        },
      ],
    })
    const topic = uniqueTopic()
    bus.handle(topic, { group: 'g' }, () => void order.push('handler'))
    await bus.publish(topic, 1)
    await waitFor(() => events.some((e) => e.type === 'handled'), 'handled')
    expect(order).toEqual(['before', 'handler', 'after ack'])
  })

  it('stop() waits for the running handler and gives undelivered messages back', async () => {
    const { transport, bus, events } = setup()
    const topic = uniqueTopic()
    let release: () => void = () => {}
    const started: number[] = []
    const sub = bus.handle<number>(topic, { group: 'g', concurrency: 1 }, (m) => {
      started.push(m.payload)
      return new Promise<void>((resolve) => {
        release = resolve
      })
    })
    await bus.publishBatch([1, 2, 3].map((payload) => ({ topic, payload })))
    await waitFor(() => started.length === 1, 'first handler running')
    let stopped = false
    const stopping = sub.stop().then(() => {
      stopped = true
    })
    await new Promise((resolve) => setImmediate(resolve))
    expect(stopped).toBe(false)
    release()
    await stopping
    expect(started).toEqual([1])
    expect(events.filter((e) => e.type === 'handled')).toHaveLength(1)
    expect(transport.queued(topic, 'g')).toBe(2)
    const again: number[] = []
    bus.handle<number>(topic, { group: 'g' }, (m) => void again.push(m.payload))
    await waitFor(() => again.length === 2, 'redelivered')
    expect(again).toEqual([2, 3])
  })

  it('stop() gives up on a stuck handler after timeoutMs and aborts its signal', async () => {
    const { bus } = setup()
    const topic = uniqueTopic()
    let signal: AbortSignal | undefined
    const sub = bus.handle(topic, { group: 'g' }, (_m, context) => {
      signal = context.signal
      return new Promise(() => {})
    })
    await bus.publish(topic, 1)
    await waitFor(() => signal !== undefined, 'handler started')
    await sub.stop({ timeoutMs: 20 })
    expect(signal?.aborted).toBe(true)
  })

  it('runs same-key messages serially and in order with concurrency > 1', async () => {
    const { bus, events } = setup()
    const topic = uniqueTopic()
    const active = new Map<string, number>()
    let overlap = 0
    let maxRunning = 0
    let running = 0
    const order: Record<string, number[]> = { a: [], b: [] }
    bus.handle<{ k: string; i: number }>(topic, { group: 'g', concurrency: 4 }, async (m) => {
      const k = m.payload.k
      if (k !== 'none' && (active.get(k) ?? 0) > 0) overlap++
      active.set(k, (active.get(k) ?? 0) + 1)
      running++
      maxRunning = Math.max(maxRunning, running)
      order[k]?.push(m.payload.i)
      await new Promise((resolve) => setTimeout(resolve, 1))
      running--
      active.set(k, (active.get(k) ?? 0) - 1)
    })
    const entries = []
    for (let i = 0; i < 20; i++)
      entries.push({ topic, payload: { k: i % 2 ? 'a' : 'b', i }, key: i % 2 ? 'a' : 'b' })
    for (let i = 0; i < 10; i++) entries.push({ topic, payload: { k: 'none', i } })
    await bus.publishBatch(entries)
    await waitFor(() => events.filter((e) => e.type === 'handled').length === 30, 'all handled')
    expect(overlap).toBe(0)
    expect(maxRunning).toBeLessThanOrEqual(4)
    expect(maxRunning).toBeGreaterThan(1)
    expect(order.a).toEqual([1, 3, 5, 7, 9, 11, 13, 15, 17, 19])
    expect(order.b).toEqual([0, 2, 4, 6, 8, 10, 12, 14, 16, 18])
  })

  it('rejects bad options with ConfigError naming the field', () => {
    const { bus } = setup()
    const topic = uniqueTopic()
    const field = (f: () => unknown) => {
      try {
        f()
      } catch (error) {
        return isSwitchyardError(error, 'ConfigError') ? error.context.field : `not a ConfigError: ${error}`
      }
      return 'no error'
    }
    expect(field(() => bus.handle(topic, { retry: -1 }, () => {}))).toBe('retry')
    expect(field(() => bus.handle(topic, { concurrency: 0 }, () => {}))).toBe('concurrency')
    expect(field(() => bus.handle(topic, { retry: { attempts: 0 } }, () => {}))).toBe('retry.attempts')
    expect(field(() => bus.handle(topic, { timeoutMs: -5 }, () => {}))).toBe('timeoutMs')
    expect(field(() => bus.handle(topic, { inFlight: 1.5 }, () => {}))).toBe('inFlight')
    expect(() => bus.handle('', {}, () => {})).toThrow(/Invalid topic/)
  })

  it('rejects consumeInterceptors that are not an array of functions, naming the entry', () => {
    const field = (consumeInterceptors: unknown) => {
      try {
        new Bus(new StubTransport(), { consumeInterceptors } as never)
      } catch (error) {
        return isSwitchyardError(error, 'ConfigError') ? error.context.field : `not a ConfigError: ${error}`
      }
      return 'no error'
    }
    expect(field({})).toBe('consumeInterceptors')
    expect(field([() => (d: unknown) => d, 'x'])).toBe('consumeInterceptors[1]')
  })

  it('reports a failed transport stream as an event and settles ready/stop without rejections', async () => {
    const { transport, bus, events } = setup()
    const topic = uniqueTopic()
    const sub = bus.handle(topic, { group: 'g' }, () => {})
    await sub.ready
    await transport.close()
    await waitFor(() => events.some((e) => e.type === 'subscription-failed'), 'subscription-failed')
    await sub.stop()
    const failed = events.find((e) => e.type === 'subscription-failed')
    expect(failed?.type === 'subscription-failed' && failed.error.name).toBe('TransportClosedError')
  })

  it('rejects ready (without an unhandled rejection) when the subscription fails before it is ready', async () => {
    const { transport, bus, events } = setup()
    await transport.close()
    const sub = bus.handle(uniqueTopic(), { group: 'g' }, () => {})
    const error = await sub.ready.catch((e) => e)
    expect(isSwitchyardError(error, 'TransportClosedError')).toBe(true)
    expect(events.filter((e) => e.type === 'subscription-failed')).toHaveLength(1)
    await sub.stop()
  })

  it('events$ is cheap when unobserved: handle still works without listeners', async () => {
    const transport = new StubTransport()
    const bus = new Bus(transport)
    buses.push(bus)
    const topic = uniqueTopic()
    let n = 0
    bus.handle(topic, { group: 'g' }, () => void n++)
    await bus.publish(topic, 1)
    await waitFor(() => n === 1 && transport.queued(topic, 'g') === 0, 'handled')
    const got = firstValueFrom(bus.events$.pipe(filter((e) => e.type === 'handled')))
    await bus.publish(topic, 2)
    expect((await got).type).toBe('handled')
  })
})
