import { VirtualTimeScheduler } from 'rxjs'
import { afterEach, describe, expect, it } from 'vitest'
import {
  BackpressureError,
  type DerivedTransport,
  type DeriveOptions,
  deriveTransport,
  isSwitchyardError,
  type OutgoingMessage,
  PublishError,
} from '../spi.js'
import { type Deferred, deferred, outgoing, ScriptedDriver } from './scripted-driver.js'

const opened: DerivedTransport[] = []
function derive(driver: ScriptedDriver, options: DeriveOptions = {}): DerivedTransport {
  const transport = deriveTransport(driver, options)
  opened.push(transport)
  return transport
}
afterEach(async () => {
  await Promise.all(opened.splice(0).map((t) => t.close({ drain: false })))
})

/** A driver whose every publish waits for the test: `sends[i]` answers the i-th batch. */
function gatedDriver(): { driver: ScriptedDriver; sends: Deferred[] } {
  const driver = new ScriptedDriver()
  const sends: Deferred[] = []
  driver.publishAnswer = () => {
    const send = deferred()
    sends.push(send)
    return send.promise
  }
  return { driver, sends }
}

/** Records how each call settled: `ok` or the error's name. */
function outcome(promise: Promise<void>): { readonly value: string | undefined } {
  const box = { value: undefined as string | undefined }
  promise.then(
    () => {
      box.value = 'ok'
    },
    (error: unknown) => {
      box.value = (error as Error).name
    },
  )
  return box
}

/** Lets settled promises run their reactions. */
async function ticks(n = 5): Promise<void> {
  for (let i = 0; i < n; i++) await Promise.resolve()
}

const ids = (batch: readonly OutgoingMessage[]): string[] => batch.map((m) => m.id)
const keyed = (key: string, n: number): OutgoingMessage => ({
  ...outgoing('orders', 1, key),
  id: `${key}${n}`,
})

describe('coalescing', () => {
  it('sends an idle call at once and coalesces the calls made while it is in flight, in call order', async () => {
    const { driver, sends } = gatedDriver()
    const t = derive(driver)
    await t.connect()
    const first = outcome(t.publish([keyed('a', 1)]))
    // Sent synchronously: no timer, no queue.
    expect(driver.published.map(ids)).toEqual([['a1']])
    const queued = [
      t.publish([keyed('a', 2)]),
      t.publish([keyed('b', 1), keyed('a', 3)]),
      t.publish([keyed('b', 2)]),
    ].map(outcome)
    await ticks()
    expect(driver.published).toHaveLength(1)
    expect(queued.map((o) => o.value)).toEqual([undefined, undefined, undefined])

    sends[0]!.resolve()
    await ticks()
    expect(first.value).toBe('ok')
    expect(driver.published.map(ids)).toEqual([['a1'], ['a2', 'b1', 'a3', 'b2']])
    expect(queued.map((o) => o.value)).toEqual([undefined, undefined, undefined])
    sends[1]!.resolve()
    await ticks()
    expect(queued.map((o) => o.value)).toEqual(['ok', 'ok', 'ok'])
  })

  it('fails exactly the calls of a rejected batch; the batches before and after still succeed', async () => {
    const { driver, sends } = gatedDriver()
    const t = derive(driver)
    await t.connect()
    const first = outcome(t.publish([keyed('a', 1)]))
    const failed = [t.publish([keyed('a', 2)]), t.publish([keyed('a', 3)])].map(outcome)
    sends[0]!.resolve()
    await ticks()
    const later = outcome(t.publish([keyed('a', 4)]))
    sends[1]!.reject(new PublishError('orders', 'nacked'))
    await ticks()
    expect(failed.map((o) => o.value)).toEqual(['PublishError', 'PublishError'])
    expect(driver.published.map(ids)).toEqual([['a1'], ['a2', 'a3'], ['a4']])
    sends[2]!.resolve()
    await ticks()
    expect([first.value, later.value]).toEqual(['ok', 'ok'])
  })

  it('fails a bad call alone, before queuing, without touching the batch it would have joined', async () => {
    const { driver, sends } = gatedDriver()
    const t = derive(driver)
    await t.connect()
    void t.publish([keyed('a', 1)])
    const good = outcome(t.publish([keyed('a', 2)]))
    const tooLarge = t.publish([keyed('a', 9), outgoing('orders', 101)]).catch((e: unknown) => e)
    const badTopic = t.publish([outgoing('no..dots')]).catch((e: unknown) => e)
    const alsoGood = outcome(t.publish([keyed('a', 3)]))
    expect(isSwitchyardError(await tooLarge, 'MessageTooLargeError')).toBe(true)
    expect(isSwitchyardError(await badTopic, 'InvalidTopicError')).toBe(true)
    sends[0]!.resolve()
    await ticks()
    expect(driver.published.map(ids)).toEqual([['a1'], ['a2', 'a3']])
    sends[1]!.resolve()
    await ticks()
    expect([good.value, alsoGood.value]).toEqual(['ok', 'ok'])
  })

  it("runs the driver's checkPublish per call, so a call it refuses fails alone", async () => {
    const { driver, sends } = gatedDriver()
    const checked: string[][] = []
    const checking = Object.assign(driver, {
      checkPublish(messages: readonly OutgoingMessage[]): void {
        checked.push(ids(messages))
        if (messages.some((m) => m.id === 'bad1')) throw new PublishError('orders', 'the driver refuses it')
      },
    })
    const t = derive(checking)
    await t.connect()
    void t.publish([keyed('a', 1)])
    const good = outcome(t.publish([keyed('a', 2)]))
    const refused = await t.publish([keyed('a', 3), keyed('bad', 1)]).catch((e: unknown) => e)
    expect(isSwitchyardError(refused, 'PublishError')).toBe(true)
    sends[0]!.resolve()
    await ticks()
    sends[1]!.resolve()
    await ticks()
    expect(checked).toEqual([['a1'], ['a2'], ['a3', 'bad1']])
    expect(driver.published.map(ids)).toEqual([['a1'], ['a2']])
    expect(good.value).toBe('ok')
  })

  it('maps a synchronous driver throw to a typed error for the calls of that batch', async () => {
    const driver = new ScriptedDriver()
    const t = derive(driver)
    await t.connect()
    driver.publishAnswer = () => {
      throw new Error('socket gone')
    }
    const error = await t.publish([outgoing('orders')]).catch((e: unknown) => e)
    expect(isSwitchyardError(error, 'BrokerUnavailableError')).toBe(true)
  })
})

describe('bounds', () => {
  it('splits queued calls at maxBatchMessages and sends a larger call alone, whole', async () => {
    const { driver, sends } = gatedDriver()
    const t = derive(driver, { maxBatchMessages: 3 })
    await t.connect()
    void t.publish([keyed('a', 0)])
    const calls = [1, 2, 3, 4].map((n) => t.publish([keyed('a', n)]))
    const big = [5, 6, 7, 8].map((n) => keyed('a', n))
    calls.push(t.publish(big), t.publish([keyed('a', 9)]))
    for (let i = 0; i < 5; i++) {
      sends[i]!.resolve()
      await ticks()
    }
    await Promise.all(calls)
    expect(driver.published.map(ids)).toEqual([
      ['a0'],
      ['a1', 'a2', 'a3'],
      ['a4'],
      ['a5', 'a6', 'a7', 'a8'],
      ['a9'],
    ])
  })

  it('splits queued calls at maxBatchBytes', async () => {
    const { driver, sends } = gatedDriver()
    const t = derive(driver, { maxBatchBytes: 100 })
    await t.connect()
    void t.publish([outgoing('orders', 10)])
    const sizes = [40, 40, 40, 90]
    const calls = sizes.map((size) => t.publish([outgoing('orders', size)]))
    for (let i = 0; i < 4; i++) {
      sends[i]!.resolve()
      await ticks()
    }
    await Promise.all(calls)
    expect(driver.published.map((batch) => batch.map((m) => m.payload.byteLength))).toEqual([
      [10],
      [40, 40],
      [40],
      [90],
    ])
  })

  it('makes a call wait for room when the queue is full, and sends it after the calls before it', async () => {
    const { driver, sends } = gatedDriver()
    const t = derive(driver, { maxQueuedMessages: 2, maxBatchMessages: 2 })
    await t.connect()
    void t.publish([keyed('a', 0)])
    const queued = [t.publish([keyed('a', 1)]), t.publish([keyed('a', 2)])].map(outcome)
    const waiting = outcome(t.publish([keyed('a', 3)]))
    const behind = outcome(t.publish([keyed('a', 4)]))
    sends[0]!.resolve()
    await ticks()
    // a1 and a2 left the queue; a3 and a4 got room in call order.
    expect(driver.published.map(ids)).toEqual([['a0'], ['a1', 'a2']])
    expect([waiting.value, behind.value]).toEqual([undefined, undefined])
    sends[1]!.resolve()
    await ticks()
    expect(driver.published.map(ids)).toEqual([['a0'], ['a1', 'a2'], ['a3', 'a4']])
    sends[2]!.resolve()
    await ticks()
    expect([...queued, waiting, behind].map((o) => o.value)).toEqual(['ok', 'ok', 'ok', 'ok'])
  })

  it('accepts a call larger than maxQueuedMessages into an empty queue instead of waiting forever', async () => {
    const { driver, sends } = gatedDriver()
    const t = derive(driver, { maxQueuedMessages: 2, whenFull: 'reject' })
    await t.connect()
    void t.publish([keyed('a', 0)])
    const big = outcome(t.publish([1, 2, 3].map((n) => keyed('a', n))))
    sends[0]!.resolve()
    await ticks()
    sends[1]!.resolve()
    await ticks()
    expect(big.value).toBe('ok')
    expect(driver.published.map(ids)).toEqual([['a0'], ['a1', 'a2', 'a3']])
  })

  it("rejects a call that does not fit with BackpressureError when whenFull is 'reject'", async () => {
    const { driver, sends } = gatedDriver()
    const t = derive(driver, { maxQueuedMessages: 2, whenFull: 'reject' })
    await t.connect()
    void t.publish([keyed('a', 0)])
    const queued = [t.publish([keyed('a', 1)]), t.publish([keyed('a', 2)])]
    const refused = await t.publish([keyed('a', 3)]).catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(BackpressureError)
    expect(refused).toMatchObject({ queuedMessages: 2, limitMessages: 2, retryable: true })
    sends[0]!.resolve()
    await ticks()
    sends[1]!.resolve()
    await Promise.all(queued)
    expect(driver.published.flat().map((m) => m.id)).toEqual(['a0', 'a1', 'a2'])
  })

  it('refuses invalid batching options with ConfigError naming the field', () => {
    const driver = new ScriptedDriver()
    expect(() => deriveTransport(driver, { maxBatchMessages: 0 })).toThrow(/maxBatchMessages/)
    expect(() => deriveTransport(driver, { maxBatchBytes: 1.5 })).toThrow(/maxBatchBytes/)
    expect(() => deriveTransport(driver, { lingerMs: -1 })).toThrow(/lingerMs/)
    expect(() => deriveTransport(driver, { maxQueuedMessages: Number.NaN })).toThrow(/maxQueuedMessages/)
    expect(() => deriveTransport(driver, { whenFull: 'drop' as 'wait' })).toThrow(/whenFull/)
  })
})

describe('publishWindows', () => {
  /** Like gatedDriver, with `windows` batches allowed in flight. */
  function windowedDriver(windows: number): { driver: ScriptedDriver; sends: Deferred[] } {
    const driver = new ScriptedDriver({ publishWindows: windows })
    const sends: Deferred[] = []
    driver.publishAnswer = () => {
      const send = deferred()
      sends.push(send)
      return send.promise
    }
    return { driver, sends }
  }

  it('hands the driver up to publishWindows batches at once, in call order, then coalesces', async () => {
    const { driver, sends } = windowedDriver(2)
    const t = derive(driver, { maxBatchMessages: 2 })
    await t.connect()
    const calls = [1, 2, 3, 4, 5].map((n) => outcome(t.publish([keyed('a', n)])))
    await ticks()
    // Two windows out at once; the rest waits for one of them, whatever order they settle in.
    expect(driver.published.map(ids)).toEqual([['a1'], ['a2']])
    sends[1]!.resolve()
    await ticks()
    expect(calls.map((o) => o.value)).toEqual([undefined, 'ok', undefined, undefined, undefined])
    expect(driver.published.map(ids)).toEqual([['a1'], ['a2'], ['a3', 'a4']])
    sends[0]!.resolve()
    await ticks()
    expect(driver.published.map(ids)).toEqual([['a1'], ['a2'], ['a3', 'a4'], ['a5']])
    expect(calls.map((o) => o.value)).toEqual(['ok', 'ok', undefined, undefined, undefined])
    sends[3]!.resolve()
    sends[2]!.resolve()
    await ticks()
    expect(calls.map((o) => o.value)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok'])
  })

  it('fails exactly the calls of the window that failed while the other windows succeed', async () => {
    const { driver, sends } = windowedDriver(3)
    const t = derive(driver)
    await t.connect()
    const calls = [1, 2, 3].map((n) => outcome(t.publish([keyed('a', n)])))
    await ticks()
    expect(driver.published).toHaveLength(3)
    sends[1]!.reject(new PublishError('orders', 'nacked'))
    sends[0]!.resolve()
    sends[2]!.resolve()
    await ticks()
    expect(calls.map((o) => o.value)).toEqual(['ok', 'PublishError', 'ok'])
  })

  it('close() rejects every window still in flight when it gives up', async () => {
    const { driver } = windowedDriver(2)
    const t = deriveTransport(driver)
    await t.connect()
    const calls = [1, 2, 3].map((n) => outcome(t.publish([keyed('a', n)])))
    await t.close({ drain: false })
    await ticks()
    expect(calls.map((o) => o.value)).toEqual([
      'TransportClosedError',
      'TransportClosedError',
      'TransportClosedError',
    ])
  })

  it('refuses a driver whose publishWindows is not an integer >= 1 with ConfigError', () => {
    const error = (() => {
      try {
        deriveTransport(new ScriptedDriver({ publishWindows: 0 }))
      } catch (e) {
        return e
      }
    })()
    expect(isSwitchyardError(error, 'ConfigError')).toBe(true)
    expect((error as { context: Record<string, string> }).context.field).toBe('publishWindows')
  })
})

describe('lingerMs', () => {
  it('holds the first call up to lingerMs on the scheduler, then sends everything queued as one batch', async () => {
    const scheduler = new VirtualTimeScheduler()
    const driver = new ScriptedDriver()
    const t = derive(driver, { scheduler, lingerMs: 10 })
    await t.connect()
    const calls = [t.publish([keyed('a', 1)]), t.publish([keyed('a', 2)])]
    await ticks()
    expect(driver.published).toEqual([])
    scheduler.flush()
    expect(scheduler.now()).toBe(10)
    await Promise.all(calls)
    expect(driver.published.map(ids)).toEqual([['a1', 'a2']])
  })

  it('sends before lingerMs once a batch is full', async () => {
    const scheduler = new VirtualTimeScheduler()
    const driver = new ScriptedDriver()
    const t = derive(driver, { scheduler, lingerMs: 1_000, maxBatchMessages: 2 })
    await t.connect()
    const calls = [t.publish([keyed('a', 1)]), t.publish([keyed('a', 2)])]
    await Promise.all(calls)
    expect(scheduler.now()).toBe(0)
    expect(driver.published.map(ids)).toEqual([['a1', 'a2']])
  })
})

describe('connection and close', () => {
  it('queues calls while connecting and sends them as one batch once connected', async () => {
    const driver = new ScriptedDriver()
    const connected = deferred()
    driver.connectAnswers.push(() => connected.promise)
    const t = derive(driver)
    const calls = [t.publish([keyed('a', 1)]), t.publish([keyed('a', 2)]), t.publish([keyed('b', 1)])]
    await ticks()
    expect(driver.published).toEqual([])
    connected.resolve()
    await Promise.all(calls)
    expect(driver.published.map(ids)).toEqual([['a1', 'a2', 'b1']])
  })

  it('rejects calls that waited the connect timeout for the connection with BrokerUnavailableError', async () => {
    const scheduler = new VirtualTimeScheduler()
    const driver = new ScriptedDriver()
    for (let i = 0; i < 100; i++) driver.connectAnswers.push(() => new Promise<void>(() => undefined))
    const t = derive(driver, { scheduler, connectTimeoutMs: 50, backoff: { initialMs: 1_000 } })
    const calls = [t.publish([keyed('a', 1)]), t.publish([keyed('a', 2)])].map((p) =>
      p.catch((e: unknown) => e),
    )
    scheduler.maxFrames = 50
    scheduler.flush()
    const errors = await Promise.all(calls)
    expect(errors.map((e) => isSwitchyardError(e, 'BrokerUnavailableError'))).toEqual([true, true])
    expect(driver.published).toEqual([])
  })

  it('gives each call waiting for the connection its own connect timeout, counted from the call', async () => {
    const scheduler = new VirtualTimeScheduler()
    const driver = new ScriptedDriver()
    for (let i = 0; i < 100; i++) driver.connectAnswers.push(() => new Promise<void>(() => undefined))
    const t = derive(driver, { scheduler, connectTimeoutMs: 50, backoff: { initialMs: 1_000 } })
    const rejectedAt: Promise<number>[] = []
    const call = () =>
      rejectedAt.push(
        t.publish([keyed('a', 1)]).then(
          () => -1,
          () => scheduler.now(),
        ),
      )
    call()
    scheduler.schedule(call, 30)
    for (let i = 0; i < 20 && scheduler.actions.length > 0; i++) {
      scheduler.flush()
      await ticks(10)
    }
    expect(await Promise.all(rejectedAt)).toEqual([50, 80])
  })

  it('close() flushes the queue: the batch in flight and the queued calls are stored, then the driver closes', async () => {
    const { driver, sends } = gatedDriver()
    const t = derive(driver)
    await t.connect()
    const calls = [t.publish([keyed('a', 1)]), t.publish([keyed('a', 2)]), t.publish([keyed('a', 3)])].map(
      outcome,
    )
    const closing = t.close({ timeoutMs: 60_000 })
    await ticks()
    expect(driver.calls).not.toContain('close')
    sends[0]!.resolve()
    await ticks()
    expect(driver.published.map(ids)).toEqual([['a1'], ['a2', 'a3']])
    sends[1]!.resolve()
    await closing
    expect(calls.map((o) => o.value)).toEqual(['ok', 'ok', 'ok'])
    expect(driver.calls.at(-1)).toBe('close')
  })

  it('close() rejects by name the queued calls it could not flush in time, and nothing is sent after', async () => {
    const scheduler = new VirtualTimeScheduler()
    const { driver } = gatedDriver()
    const t = derive(driver, { scheduler })
    await t.connect()
    const calls = [t.publish([keyed('a', 1)]), t.publish([keyed('a', 2)])].map((p) =>
      p.catch((e: unknown) => e),
    )
    let closed = false
    const closing = t.close({ timeoutMs: 100 }).then(() => {
      closed = true
    })
    // The drain timer is scheduled a few microtasks into close(): run virtual time until it closed.
    for (let i = 0; i < 100 && !closed; i++) {
      scheduler.flush()
      await Promise.resolve()
    }
    await closing
    expect(scheduler.now()).toBe(100)
    const errors = await Promise.all(calls)
    expect(errors.map((e) => isSwitchyardError(e, 'TransportClosedError'))).toEqual([true, true])
    expect(driver.published.map(ids)).toEqual([['a1']])
  })
})
