/**
 * Dead letters never cascade, and `bus.deadLetters` / `readDeadLetter` give a typed view of them.
 */
import { firstValueFrom, take, toArray } from 'rxjs'
import { afterEach, describe, expect, it } from 'vitest'
import {
  Bus,
  type BusEvent,
  bytesCodec,
  type DeadLetterDelivery,
  isDeadLetter,
  readDeadLetter,
  SwitchyardHeaders,
} from '../index.js'
import { StubTransport } from './stub-transport.js'
import { uniqueTopic, waitFor } from './wait-for.js'

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()))
})

function setup() {
  const transport = new StubTransport()
  const bus = new Bus(transport, { closeTransport: true })
  const events: BusEvent[] = []
  bus.events$.subscribe((e) => events.push(e))
  cleanups.push(() => bus.close({ timeoutMs: 100 }))
  return { transport, bus, events }
}

const bytes = (text: string) => new TextEncoder().encode(text)

/** Publishes `payload` (raw bytes) to `topic` and lets a `handle` dead-letter it as undecodable. */
async function poison(bus: Bus, transport: StubTransport, topic: string, payload: string, id: string) {
  await transport.provision(`${topic}.dlq`, { groups: ['audit'] })
  const sub = bus.handle(topic, { group: 'g' }, () => {})
  await bus.publish(topic, bytes(payload), { codec: bytesCodec, id })
  await waitFor(
    () => transport.published.some((m) => m.topic === `${topic}.dlq` && m.id === id),
    'dead letter',
  )
  await sub.stop()
}

describe('dead letters', () => {
  it('never dead-letters a dead letter again: handle on <topic>.dlq drops an undecodable one', async () => {
    const { bus, transport, events } = setup()
    const topic = uniqueTopic()
    await poison(bus, transport, topic, 'not json', 'p1')
    let called = 0
    bus.handle(`${topic}.dlq`, { group: 'audit' }, () => void called++)
    await waitFor(() => events.some((e) => e.type === 'dropped'), 'dropped event')
    expect(called).toBe(0)
    expect(transport.published.filter((m) => m.topic === `${topic}.dlq.dlq`)).toHaveLength(0)
    expect(transport.queued(`${topic}.dlq`, 'audit')).toBe(0)
    const dropped = events.find((e) => e.type === 'dropped')
    expect(dropped).toMatchObject({ message: { id: 'p1' }, reason: { name: 'DecodeError' } })
  })

  it('never dead-letters a dead letter whose handler fails for good', async () => {
    const { bus, transport, events } = setup()
    const topic = uniqueTopic()
    await poison(bus, transport, topic, '{"broken"', 'p2')
    bus.handle(`${topic}.dlq`, { group: 'audit', retry: false, codec: bytesCodec }, () => {
      throw new Error('audit down')
    })
    await waitFor(() => events.some((e) => e.type === 'dropped'), 'dropped event')
    expect(transport.published.filter((m) => m.topic.endsWith('.dlq.dlq'))).toHaveLength(0)
  })

  it('bus.deadLetters gives the reason, origin, attempts, raw bytes and decode error of each', async () => {
    const { bus, transport } = setup()
    const topic = uniqueTopic()
    await poison(bus, transport, topic, 'not json', 'p3')
    const before = Date.now()
    const [letter] = (await firstValueFrom(
      bus.deadLetters<{ n: number }>(topic, { group: 'audit' }).pipe(take(1), toArray()),
    )) as [DeadLetterDelivery<{ n: number }>]
    const view = letter.message.payload
    expect(view.originalTopic).toBe(topic)
    expect(view.originalGroup).toBe('g')
    expect(view.errorName).toBe('DecodeError')
    expect(view.errorMessage).toContain('not valid JSON')
    expect(view.attempts).toBe(1)
    expect(view.retryable).toBe(false)
    expect(view.firstFailureAt).toBeLessThanOrEqual(before)
    expect(new TextDecoder().decode(view.raw)).toBe('not json')
    expect(view.value).toBeUndefined()
    expect(view.decodeError?.name).toBe('DecodeError')
    expect(isDeadLetter(letter.message)).toBe(true)
    await letter.ack()
    expect(transport.settlements.at(-1)).toEqual({ id: 'p3', op: 'ack' })
  })

  it('decodes the value of a dead letter whose payload is valid', async () => {
    const { bus, transport } = setup()
    const topic = uniqueTopic()
    await transport.provision(`${topic}.dlq`, { groups: ['audit'] })
    bus.handle<{ n: number }>(topic, { group: 'g', retry: false }, (m) => {
      throw new RangeError(`n too big: ${m.payload.n}`)
    })
    await bus.publish(topic, { n: 9 }, { id: 'v' })
    const letter = await firstValueFrom(bus.deadLetters<{ n: number }>(topic, { group: 'audit' }))
    expect(letter.message.payload.value).toEqual({ n: 9 })
    expect(letter.message.payload.decodeError).toBeUndefined()
    expect(letter.message.payload.errorName).toBe('RangeError')
    expect(letter.message.payload.errorMessage).toBe('n too big: 9')
  })

  it('readDeadLetter reads headers alone without a codec, and reports a plain message as not a dead letter', () => {
    const message = {
      id: 'i',
      topic: 't.dlq',
      key: undefined,
      payload: bytes('x'),
      timestamp: 0,
      attempt: 1,
      headers: {
        [SwitchyardHeaders.errorName]: 'TimeoutError',
        [SwitchyardHeaders.attempts]: '4',
        [SwitchyardHeaders.firstFailureAt]: '2026-01-02T03:04:05.000Z',
      },
    }
    const view = readDeadLetter(message)
    expect(view).toMatchObject({
      errorName: 'TimeoutError',
      attempts: 4,
      firstFailureAt: Date.parse('2026-01-02T03:04:05.000Z'),
      value: undefined,
      decodeError: undefined,
    })
    expect(isDeadLetter({ headers: {} })).toBe(false)
  })
})
