/**
 * The handle chain as middleware: documented order, outcomes as data, the Bus's own steps
 * (retry, decode, timeout, dead-letter) and stuck detection — timers on virtual time.
 */
import { VirtualTimeScheduler } from 'rxjs'
import { afterEach, describe, expect, it } from 'vitest'
import {
  Bus,
  type BusEvent,
  type BusOptions,
  bytesCodec,
  type HandlerOutcome,
  type Middleware,
  Outcome,
  SwitchyardHeaders,
} from '../index.js'
import { StubTransport } from './stub-transport.js'
import { uniqueTopic, waitFor } from './wait-for.js'

interface Setup {
  readonly transport: StubTransport
  readonly bus: Bus
  readonly events: BusEvent[]
  readonly scheduler: VirtualTimeScheduler
}

const cleanups: (() => Promise<void>)[] = []

function setup(options: BusOptions = {}): Setup {
  const scheduler = new VirtualTimeScheduler()
  const transport = new StubTransport({ scheduler })
  const bus = new Bus(transport, { scheduler, ...options })
  const events: BusEvent[] = []
  bus.events$.subscribe((e) => events.push(e))
  cleanups.push(async () => {
    const closing = bus.close({ timeoutMs: 10 })
    scheduler.flush()
    await closing
    await transport.close({ drain: false })
  })
  return { transport, bus, events, scheduler }
}

afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()))
})

const never = () => new Promise<void>(() => {})
const ofType = <K extends BusEvent['type']>(events: BusEvent[], type: K) =>
  events.filter((e): e is Extract<BusEvent, { type: K }> => e.type === type)

/** Advances virtual time to exactly `ms`, running every action due by then. */
function advanceTo(scheduler: VirtualTimeScheduler, ms: number): void {
  // The virtual clock moves only by running actions: one at `ms` takes it there.
  scheduler.schedule(() => {}, ms - scheduler.now())
  scheduler.maxFrames = ms
  scheduler.flush()
  scheduler.maxFrames = Number.POSITIVE_INFINITY
}

describe('handle middleware', () => {
  it('runs Bus middleware outside handle middleware, both outside decode, and shows them the outcome', async () => {
    const log: string[] = []
    const tag =
      (name: string): Middleware =>
      (next) =>
      async (ctx) => {
        log.push(`${name} before, decoded: ${ctx.message !== undefined}, attempt ${ctx.attempt}`)
        const outcome = await next(ctx)
        log.push(`${name} after ${outcome.kind}, payload ${JSON.stringify(ctx.message?.payload)}`)
        return outcome
      }
    const { bus, transport } = setup({ middleware: [tag('bus1'), tag('bus2')] })
    const topic = uniqueTopic()
    bus.handle<{ n: number }>(topic, { group: 'g', middleware: [tag('handle')] }, (m) => {
      log.push(`handler ${m.payload.n}`)
    })
    await bus.publish(topic, { n: 7 })
    await waitFor(() => transport.settlements.length === 1, 'settled')
    expect(log).toEqual([
      'bus1 before, decoded: false, attempt 1',
      'bus2 before, decoded: false, attempt 1',
      'handle before, decoded: false, attempt 1',
      'handler 7',
      'handle after ack, payload {"n":7}',
      'bus2 after ack, payload {"n":7}',
      'bus1 after ack, payload {"n":7}',
    ])
    expect(transport.settlements[0]?.op).toBe('ack')
  })

  it('gives middleware the delivery metadata: topic, group, raw message and signal', async () => {
    const seen: unknown[] = []
    const { bus, transport } = setup({
      middleware: [
        (next) => (ctx) => {
          seen.push(ctx.topic, ctx.group, ctx.raw.id, ctx.raw.headers['x-trace'], ctx.signal.aborted)
          return next(ctx)
        },
      ],
    })
    const topic = uniqueTopic()
    bus.handle(topic, { group: 'g' }, () => {})
    await bus.publish(topic, 1, { id: 'm1', headers: { 'x-trace': 't1' } })
    await waitFor(() => transport.settlements.length === 1, 'settled')
    expect(seen).toEqual([topic, 'g', 'm1', 't1', false])
  })

  it('lets a middleware replace the outcome: a dead-letter turned into a drop is acked, not published', async () => {
    const { bus, transport, events } = setup({
      middleware: [
        (next) => async (ctx) => {
          const outcome = await next(ctx)
          return outcome.kind === 'dead-letter' ? Outcome.drop(outcome.reason) : outcome
        },
      ],
    })
    const topic = uniqueTopic()
    bus.handle(topic, { group: 'g', retry: false }, () => {
      throw new Error('refused')
    })
    await bus.publish(topic, 1, { id: 'x' })
    await waitFor(() => transport.settlements.length === 1, 'settled')
    expect(transport.settlements).toEqual([{ id: 'x', op: 'ack' }])
    expect(transport.published.filter((m) => m.topic === `${topic}.dlq`)).toHaveLength(0)
    const dropped = ofType(events, 'dropped')
    expect(dropped).toHaveLength(1)
    expect(dropped[0]?.reason?.message).toBe('refused')
  })

  it('settles a retry outcome from a middleware as a nack with that delay, redelivered on virtual time', async () => {
    const { bus, transport, scheduler } = setup({
      middleware: [(next) => (ctx) => (ctx.attempt === 1 ? Outcome.retry(5_000) : next(ctx))],
    })
    const topic = uniqueTopic()
    const handled: number[] = []
    bus.handle<number>(topic, { group: 'g' }, (m) => void handled.push(m.attempt))
    await bus.publish(topic, 1, { id: 'r' })
    await waitFor(() => transport.settlements.length === 1, 'first settlement')
    expect(transport.settlements[0]).toEqual({ id: 'r', op: 'nack', delayMs: 5_000 })
    advanceTo(scheduler, 4_999)
    await Promise.resolve()
    expect(handled).toEqual([])
    advanceTo(scheduler, 5_000)
    await waitFor(() => handled.length === 1, 'redelivery')
    expect(handled).toEqual([2])
  })

  it('treats an error thrown by a middleware outside retry as a retry after 1 s, never a loss', async () => {
    const { bus, transport, events } = setup({
      middleware: [
        () => () => {
          throw new Error('middleware bug')
        },
      ],
    })
    const topic = uniqueTopic()
    bus.handle(topic, { group: 'g' }, () => {})
    await bus.publish(topic, 1, { id: 'e' })
    await waitFor(() => transport.settlements.length === 1, 'settled')
    expect(transport.settlements[0]).toEqual({ id: 'e', op: 'nack', delayMs: 1_000 })
    expect(ofType(events, 'handler-failed')[0]?.error.message).toBe('middleware bug')
  })

  it('refuses a middleware option that is not an array of functions with ConfigError', () => {
    expect(() => new Bus(new StubTransport(), { middleware: [42 as unknown as Middleware] })).toThrow(
      /middleware\[0\]/,
    )
    const { bus } = setup()
    expect(() => bus.handle(uniqueTopic(), { middleware: 'x' as unknown as Middleware[] }, () => {})).toThrow(
      /middleware must be an array/,
    )
  })
})

describe('the Bus steps', () => {
  it('retries with the policy delay on virtual time, then dead-letters with the attempt count', async () => {
    const outcomes: HandlerOutcome[] = []
    const { bus, transport, scheduler } = setup({
      middleware: [
        (next) => async (ctx) => {
          const outcome = await next(ctx)
          outcomes.push(outcome)
          return outcome
        },
      ],
    })
    const topic = uniqueTopic()
    const attempts: number[] = []
    bus.handle(
      topic,
      { group: 'g', retry: { attempts: 3, backoff: 'fixed', initialDelayMs: 1_000 } },
      (m) => {
        attempts.push(m.attempt)
        throw new Error(`no ${m.attempt}`)
      },
    )
    await bus.publish(topic, 1, { id: 'f' })
    await waitFor(() => transport.settlements.length === 1, 'attempt 1 settled')
    expect(attempts).toEqual([1])
    advanceTo(scheduler, 999)
    expect(attempts).toEqual([1])
    advanceTo(scheduler, 1_000)
    await waitFor(() => transport.settlements.length === 2, 'attempt 2 settled')
    advanceTo(scheduler, 2_000)
    await waitFor(() => transport.published.some((m) => m.topic === `${topic}.dlq`), 'dead letter')
    expect(attempts).toEqual([1, 2, 3])
    expect(outcomes.map((o) => o.kind)).toEqual(['retry', 'retry', 'dead-letter'])
    expect(outcomes[0]).toMatchObject({ delayMs: 1_000, error: { message: 'no 1' } })
    expect(outcomes[2]).toMatchObject({ topic: `${topic}.dlq`, reason: { message: 'no 3' } })
    const dead = transport.published.find((m) => m.topic === `${topic}.dlq`)
    expect(dead?.headers[SwitchyardHeaders.attempts]).toBe('3')
    expect(dead?.headers[SwitchyardHeaders.firstFailureAt]).toBe(new Date(0).toISOString())
  })

  it('dead-letters an undecodable payload at once (no retry), before the handler runs', async () => {
    const outcomes: HandlerOutcome[] = []
    const { bus, transport, events } = setup({
      middleware: [
        (next) => async (ctx) => {
          const outcome = await next(ctx)
          outcomes.push(outcome)
          return outcome
        },
      ],
    })
    const topic = uniqueTopic()
    let called = 0
    bus.handle(topic, { group: 'g', retry: 5 }, () => void called++)
    await bus.publish(topic, new TextEncoder().encode('{oops'), { codec: bytesCodec, id: 'd' })
    await waitFor(() => transport.settlements.length === 1, 'settled')
    expect(called).toBe(0)
    expect(outcomes[0]).toMatchObject({ kind: 'dead-letter', reason: { name: 'DecodeError' } })
    expect(transport.settlements[0]).toEqual({ id: 'd', op: 'ack' })
    expect(ofType(events, 'decode-failed')).toHaveLength(1)
    const dead = transport.published.find((m) => m.topic === `${topic}.dlq`)
    expect(dead?.headers[SwitchyardHeaders.errorName]).toBe('DecodeError')
  })

  it('dead-letters a payload an async codec rejects, in handle and consume, as a DecodeError', async () => {
    const { bus, transport, events } = setup()
    const asyncCodec = {
      contentType: 'application/x-test',
      encode: (value: string) => new TextEncoder().encode(value),
      decode: (bytes: Uint8Array) => {
        const text = new TextDecoder().decode(bytes)
        return text === 'bad' ? Promise.reject(new Error('async refusal')) : Promise.resolve(text)
      },
    }
    const topic = uniqueTopic()
    const handled: string[] = []
    bus.handle(topic, { group: 'g', retry: 5, codec: asyncCodec }, (m) => void handled.push(m.payload))
    const consumed: string[] = []
    bus.consume(topic, { group: 'c', codec: asyncCodec }).subscribe((d) => {
      consumed.push(d.message.payload)
      void d.ack()
    })
    await bus.publish(topic, 'bad', { codec: asyncCodec, id: 'b' })
    await bus.publish(topic, 'good', { codec: asyncCodec, id: 'g' })
    await waitFor(
      () => transport.published.filter((m) => m.topic === `${topic}.dlq`).length === 2,
      'two dead letters',
    )
    const dead = transport.published.filter((m) => m.topic === `${topic}.dlq`)
    expect(
      dead
        .map((m) => [
          m.id,
          m.headers[SwitchyardHeaders.errorName],
          m.headers[SwitchyardHeaders.originalGroup],
        ])
        .sort(),
    ).toEqual([
      ['b', 'DecodeError', 'c'],
      ['b', 'DecodeError', 'g'],
    ])
    await waitFor(() => handled.length === 1 && consumed.length === 1, 'good one handled and consumed')
    expect(handled).toEqual(['good'])
    expect(consumed).toEqual(['good'])
    expect(transport.settlements.filter((x) => x.op === 'nack')).toHaveLength(0)
    expect(ofType(events, 'decode-failed')).toHaveLength(2)
  })

  it('times out a handler on virtual time, aborting its signal, and counts it as a failure', async () => {
    const { bus, transport, scheduler } = setup()
    const topic = uniqueTopic()
    let signal: AbortSignal | undefined
    bus.handle(topic, { group: 'g', timeoutMs: 2_000, retry: false }, (_m, ctx) => {
      signal = ctx.signal
      return never()
    })
    await bus.publish(topic, 1, { id: 't' })
    await waitFor(() => signal !== undefined, 'handler started')
    advanceTo(scheduler, 1_999)
    expect(signal?.aborted).toBe(false)
    advanceTo(scheduler, 2_000)
    expect(signal?.aborted).toBe(true)
    await waitFor(() => transport.settlements.length === 1, 'settled')
    const dead = transport.published.find((m) => m.topic === `${topic}.dlq`)
    expect(dead?.headers[SwitchyardHeaders.errorName]).toBe('TimeoutError')
  })

  it('dead-letters with the predicate error when retry.retryable throws, never losing the message', async () => {
    const { bus, transport } = setup()
    const topic = uniqueTopic()
    const retryable = () => {
      throw new Error('bad predicate')
    }
    bus.handle(topic, { group: 'g', retry: { attempts: 3, retryable } }, async () => {
      throw new Error('handler failed')
    })
    await bus.publish(topic, 1, { id: 'p' })
    await waitFor(() => transport.settlements.length === 1, 'settled')
    const dead = transport.published.find((m) => m.topic === `${topic}.dlq`)
    expect(dead?.headers[SwitchyardHeaders.errorMessage]).toBe('bad predicate')
    expect(transport.settlements[0]).toEqual({ id: 'p', op: 'ack' })
  })

  it('drops instead of dead-lettering with deadLetter: false', async () => {
    const { bus, transport, events } = setup()
    const topic = uniqueTopic()
    bus.handle(topic, { group: 'g', retry: false, deadLetter: false }, () => {
      throw new Error('no')
    })
    await bus.publish(topic, 1, { id: 'n' })
    await waitFor(() => transport.settlements.length === 1, 'settled')
    expect(transport.settlements[0]).toEqual({ id: 'n', op: 'ack' })
    expect(transport.published.filter((m) => m.topic !== topic)).toHaveLength(0)
    expect(ofType(events, 'dropped')).toHaveLength(1)
  })
})

describe('stuck handlers', () => {
  it('reports a handler still running after stuckAfterMs once, without cancelling it', async () => {
    const { bus, events, scheduler } = setup({ stuckAfterMs: 60_000 })
    const topic = uniqueTopic()
    let signal: AbortSignal | undefined
    bus.handle(topic, { group: 'g' }, (_m, ctx) => {
      signal = ctx.signal
      return never()
    })
    await bus.publish(topic, { n: 1 }, { id: 's' })
    await waitFor(() => signal !== undefined, 'handler started')
    advanceTo(scheduler, 59_999)
    expect(ofType(events, 'handler-stuck')).toHaveLength(0)
    advanceTo(scheduler, 60_000)
    const stuck = ofType(events, 'handler-stuck')
    expect(stuck).toHaveLength(1)
    expect(stuck[0]).toMatchObject({ group: 'g', elapsedMs: 60_000, message: { id: 's', payload: { n: 1 } } })
    advanceTo(scheduler, 600_000)
    expect(ofType(events, 'handler-stuck')).toHaveLength(1)
    expect(signal?.aborted).toBe(false)
  })

  it('reports each of several stuck handlers at its own time', async () => {
    const { bus, events, scheduler } = setup({ stuckAfterMs: 1_000 })
    const topic = uniqueTopic()
    let started = 0
    bus.handle(topic, { group: 'g', concurrency: 2 }, () => {
      started++
      return never()
    })
    await bus.publish(topic, 1, { id: 'a' })
    await waitFor(() => started === 1, 'first started')
    advanceTo(scheduler, 400)
    await bus.publish(topic, 2, { id: 'b' })
    await waitFor(() => started === 2, 'second started')
    advanceTo(scheduler, 1_000)
    expect(ofType(events, 'handler-stuck').map((e) => e.message.id)).toEqual(['a'])
    advanceTo(scheduler, 1_399)
    expect(ofType(events, 'handler-stuck')).toHaveLength(1)
    advanceTo(scheduler, 1_400)
    expect(ofType(events, 'handler-stuck').map((e) => [e.message.id, e.elapsedMs])).toEqual([
      ['a', 1_000],
      ['b', 1_000],
    ])
  })

  it('reports nothing with stuckAfterMs: false, nor for handlers that finish in time', async () => {
    const off = setup({ stuckAfterMs: false })
    const topic = uniqueTopic()
    let started = false
    off.bus.handle(topic, { group: 'g' }, () => {
      started = true
      return never()
    })
    await off.bus.publish(topic, 1)
    await waitFor(() => started, 'handler started')
    advanceTo(off.scheduler, 10 * 60_000)
    expect(ofType(off.events, 'handler-stuck')).toHaveLength(0)

    const quick = setup({ stuckAfterMs: 1_000 })
    let release: () => void = () => {}
    quick.bus.handle(topic, { group: 'g' }, () => new Promise<void>((resolve) => (release = resolve)))
    await quick.bus.publish(topic, 1)
    await waitFor(() => quick.transport.unsettled === 1, 'delivered')
    advanceTo(quick.scheduler, 999)
    release()
    await waitFor(() => quick.transport.settlements.length === 1, 'settled')
    advanceTo(quick.scheduler, 5_000)
    expect(ofType(quick.events, 'handled')).toHaveLength(1)
    expect(ofType(quick.events, 'handler-stuck')).toHaveLength(0)
  })

  it('does not watch handlers whose timeoutMs ends them before stuckAfterMs', async () => {
    const { bus, events, scheduler, transport } = setup({ stuckAfterMs: 1_000 })
    const topic = uniqueTopic()
    let started = false
    bus.handle(topic, { group: 'g', timeoutMs: 1_000, retry: false }, () => {
      started = true
      return never()
    })
    await bus.publish(topic, 1)
    await waitFor(() => started, 'handler started')
    advanceTo(scheduler, 5_000)
    await waitFor(() => transport.settlements.length === 1, 'timed out and settled')
    expect(ofType(events, 'handler-failed')[0]?.error.name).toBe('TimeoutError')
    expect(ofType(events, 'handler-stuck')).toHaveLength(0)
  })

  it('refuses a negative stuckAfterMs with ConfigError', () => {
    expect(() => new Bus(new StubTransport(), { stuckAfterMs: -1 })).toThrow(/stuckAfterMs/)
  })
})
