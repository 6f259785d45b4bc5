/**
 * `Bus.request` / `Bus.reply` edges on the memory transport: option checks, cancellation, close,
 * deadlines, plain messages and the unroutable mapping. The broker-facing behaviour (routing under
 * concurrency, timeouts, remote errors) is in the contract suite, run on every transport.
 */
import { MemoryTransport } from '@switchyard/memory'
import { afterEach, describe, expect, it } from 'vitest'
import { Bus, isSwitchyardError, PublishError, RequestHeaders, stringCodec } from '../index.js'
import { isUnroutable } from '../request-reply-errors.js'
import { uniqueTopic, waitFor } from './wait-for.js'

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()))
})

function setup(): Bus {
  const bus = new Bus(new MemoryTransport(), { closeTransport: true })
  cleanups.push(() => bus.close({ timeoutMs: 100 }))
  return bus
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise
  } catch (error) {
    return error as Error
  }
  throw new Error('expected a rejection')
}

describe('Bus.request / Bus.reply on memory', () => {
  it('refuses a bad timeoutMs with ConfigError naming the field', async () => {
    const bus = setup()
    const error = await rejection(bus.request(uniqueTopic(), 1, { timeoutMs: 0 }))
    expect(isSwitchyardError(error, 'ConfigError')).toBe(true)
    expect((error as unknown as { context: { field: string } }).context.field).toBe('timeoutMs')
  })

  it('an aborted signal rejects with CancelledError, at once or while waiting', async () => {
    const bus = setup()
    const topic = uniqueTopic()
    await bus.reply(topic, { group: 'g' }, () => new Promise(() => {})).ready
    expect(
      isSwitchyardError(
        await rejection(bus.request(topic, 1, { signal: AbortSignal.abort() })),
        'CancelledError',
      ),
    ).toBe(true)
    const controller = new AbortController()
    const waiting = bus.request(topic, 1, { signal: controller.signal })
    controller.abort()
    expect(isSwitchyardError(await rejection(waiting), 'CancelledError')).toBe(true)
  })

  it('close() rejects waiting requests with TransportClosedError, and later requests too', async () => {
    const bus = setup()
    const topic = uniqueTopic()
    let started = false
    await bus.reply(topic, { group: 'g' }, async () => {
      started = true
      return new Promise(() => {})
    }).ready
    const waiting = bus.request(topic, 1)
    await waitFor(() => started, 'the responder started')
    await bus.close({ drain: false })
    expect(isSwitchyardError(await rejection(waiting), 'TransportClosedError')).toBe(true)
    expect(isSwitchyardError(await rejection(bus.request(topic, 1)), 'TransportClosedError')).toBe(true)
  })

  it('uses the request and reply codecs, and passes request headers and key to the responder', async () => {
    const bus = setup()
    const topic = uniqueTopic()
    let seen: { key: string | undefined; tenant: string | undefined } | undefined
    await bus.reply<string, string>(
      topic,
      { group: 'g', codec: stringCodec, replyCodec: stringCodec },
      (m) => {
        seen = { key: m.key, tenant: m.headers['x-tenant'] }
        return m.payload.toUpperCase()
      },
    ).ready
    const answer = await bus.request<string>(topic, 'hé', {
      codec: stringCodec,
      replyCodec: stringCodec,
      key: 'k1',
      headers: { 'x-tenant': 't' },
    })
    expect(answer).toBe('HÉ')
    expect(seen).toEqual({ key: 'k1', tenant: 't' })
  })

  it('runs the handler without replying for a message with no reply address', async () => {
    const bus = setup()
    const topic = uniqueTopic()
    const seen: number[] = []
    await bus.reply<number, number>(topic, { group: 'g' }, (m) => {
      seen.push(m.payload)
      return m.payload
    }).ready
    await bus.publish(topic, 5)
    await waitFor(() => seen.length === 1, 'the plain message handled')
    expect(seen).toEqual([5])
  })

  it('skips a request whose caller deadline has passed', async () => {
    const bus = setup()
    const topic = uniqueTopic()
    const seen: number[] = []
    const handled: string[] = []
    bus.events$.subscribe((e) => {
      if (e.type === 'handled') handled.push(e.message.id)
    })
    await bus.reply<number, number>(topic, { group: 'g' }, (m) => {
      seen.push(m.payload)
      return m.payload
    }).ready
    await bus.publish(topic, 1, {
      id: 'expired',
      headers: {
        [RequestHeaders.correlationId]: 'c1',
        [RequestHeaders.replyTo]: 'nobody.listens',
        [RequestHeaders.deadline]: String(Date.now() - 1),
      },
    })
    await waitFor(() => handled.includes('expired'), 'the expired request acknowledged')
    expect(seen).toEqual([])
  })

  it('treats only an unroutable PublishError as "no responder"', () => {
    expect(isUnroutable(new PublishError('t', 'no route', { context: { reason: 'unroutable' } }))).toBe(true)
    expect(isUnroutable(new PublishError('t', 'nacked'))).toBe(false)
    expect(isUnroutable(new Error('unroutable'))).toBe(false)
  })
})
