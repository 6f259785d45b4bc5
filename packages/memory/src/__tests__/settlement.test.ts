import { isSwitchyardError, type TransportStatus } from '@switchyard/core/spi'
import { VirtualTimeScheduler } from 'rxjs'
import { describe, expect, it } from 'vitest'
import { message, record, settle, unique, useTransports } from './helpers.js'

const transport = useTransports()

describe('nack', () => {
  it('requeue delivers again with attempt + 1, ahead of later messages of the key', async () => {
    const t = transport()
    const topic = unique('requeue')
    const r = record(t, topic, { group: 'g' })
    await t.publish([message(topic, 'k1', { key: 'k' }), message(topic, 'k2', { key: 'k' })])
    await settle()
    expect(r.texts()).toEqual(['k1'])
    await r.deliveries[0]?.nack()
    await settle()
    expect(r.texts()).toEqual(['k1', 'k1'])
    expect(r.deliveries[1]?.message).toMatchObject({ id: r.deliveries[0]?.message.id, attempt: 2 })
    await r.deliveries[1]?.ack()
    await settle()
    expect(r.texts()).toEqual(['k1', 'k1', 'k2'])
    expect(r.deliveries[2]?.message.attempt).toBe(1)
  })

  it('requeue: false drops the message for the group', async () => {
    const t = transport()
    const topic = unique('drop')
    const r = record(t, topic, { group: 'g' })
    await t.publish([message(topic, 'doomed', { key: 'k' })])
    await settle()
    await r.deliveries[0]?.nack({ requeue: false })
    await t.publish([message(topic, 'after', { key: 'k' })])
    await settle()
    expect(r.texts()).toEqual(['doomed', 'after'])
    await r.deliveries[1]?.ack()
    expect((await t.health()).subscriptions[0]).toMatchObject({ inFlight: 0, lag: 0 })
  })

  it('delayMs redelivers no earlier than asked while other messages, even of the same key, keep flowing', async () => {
    const scheduler = new VirtualTimeScheduler()
    const t = transport(undefined, { scheduler })
    const topic = unique('delay')
    const r = record(t, topic, { group: 'g' })
    await t.publish([message(topic, 'slow', { key: 'k' }), message(topic, 'next', { key: 'k' })])
    await settle()
    await r.deliveries[0]?.nack({ delayMs: 60 })
    await settle()
    expect(r.texts()).toEqual(['slow', 'next'])
    expect((await t.health()).subscriptions[0]?.lag).toBe(1)
    await r.deliveries[1]?.ack()
    await settle()
    expect(r.deliveries).toHaveLength(2)
    scheduler.flush()
    expect(scheduler.now()).toBe(60)
    expect(r.deliveries).toHaveLength(3)
    expect(r.deliveries[2]?.message).toMatchObject({ id: r.deliveries[0]?.message.id, attempt: 2 })
  })

  it('a due delayed message waits for an unsettled message of its key, then comes first', async () => {
    const scheduler = new VirtualTimeScheduler()
    const t = transport(undefined, { scheduler })
    const topic = unique('delaykey')
    const r = record(t, topic, { group: 'g' })
    await t.publish([
      message(topic, 'k1', { key: 'k' }),
      message(topic, 'k2', { key: 'k' }),
      message(topic, 'k3', { key: 'k' }),
    ])
    await settle()
    await r.deliveries[0]?.nack({ delayMs: 5 })
    await settle()
    expect(r.texts()).toEqual(['k1', 'k2'])
    scheduler.flush()
    expect((await t.health()).details).toMatchObject({ delayedTimers: 0 })
    await settle()
    expect(r.texts()).toEqual(['k1', 'k2'])
    await r.deliveries[1]?.ack()
    await settle()
    expect(r.texts()).toEqual(['k1', 'k2', 'k1'])
    expect(r.deliveries[2]?.message.attempt).toBe(2)
    await r.deliveries[2]?.ack()
    await settle()
    expect(r.texts()).toEqual(['k1', 'k2', 'k1', 'k3'])
  })

  it('rejects an invalid delay with ConfigError and leaves the delivery unsettled', async () => {
    const t = transport()
    const topic = unique('baddelay')
    const r = record(t, topic, { group: 'g' })
    await t.publish([message(topic, 'x')])
    await settle()
    await expect(r.deliveries[0]?.nack({ delayMs: -5 })).rejects.toMatchObject({ name: 'ConfigError' })
    expect(r.deliveries[0]?.settled).toBe(false)
  })
})

describe('unsubscribe', () => {
  it('gives unsettled deliveries back to the group with the same attempt; late settling is a no-op', async () => {
    const t = transport()
    const topic = unique('handback')
    const first = record(t, topic, { group: 'g', inFlight: 2 })
    await t.publish([
      message(topic, 'a', { key: 'k' }),
      message(topic, 'b'),
      message(topic, 'c', { key: 'k' }),
    ])
    await settle()
    expect(first.texts()).toEqual(['a', 'b'])
    first.subscription.unsubscribe()
    await expect(first.deliveries[0]?.ack()).resolves.toBeUndefined()

    const second = record(t, topic, { group: 'g', inFlight: 10 })
    await settle()
    expect(second.texts()).toEqual(['a', 'b'])
    expect(second.deliveries.map((d) => d.message.attempt)).toEqual([1, 1])
    await second.deliveries[0]?.ack()
    await settle()
    expect(second.texts()).toEqual(['a', 'b', 'c'])
  })

  it('a group keeps receiving while it has no consumer; a group-less subscription leaves nothing behind', async () => {
    const t = transport()
    const topic = unique('keep')
    const grouped = record(t, topic, { group: 'g' })
    const ephemeral = record(t, topic)
    grouped.subscription.unsubscribe()
    ephemeral.subscription.unsubscribe()
    await t.publish([message(topic, 'while-away')])
    const back = record(t, topic, { group: 'g' })
    const fresh = record(t, topic)
    await settle()
    expect(back.texts()).toEqual(['while-away'])
    expect(fresh.texts()).toEqual([])
  })
})

describe('close', () => {
  it('drains: waits for unsettled deliveries, starts no new ones, then completes streams', async () => {
    const t = transport()
    const topic = unique('drain')
    const states: string[] = []
    let completed = false
    t.status$.subscribe({
      next: (s: TransportStatus) => void states.push(s.state),
      complete: () => {
        completed = true
      },
    })
    const r = record(t, topic, { group: 'g', inFlight: 1 })
    let streamCompleted = false
    r.subscription.add(() => {
      streamCompleted = true
    })
    await t.publish([message(topic, 'held'), message(topic, 'queued')])
    await settle()
    let closed = false
    const closing = t.close({ timeoutMs: 5_000 }).then(() => {
      closed = true
    })
    await settle()
    expect(closed).toBe(false)
    expect(states).toEqual(['idle', 'connected', 'closing'])
    await r.deliveries[0]?.ack()
    await closing
    expect(r.texts()).toEqual(['held'])
    // A deliberate close completes the stream instead of erroring it.
    expect(r.error).toBeUndefined()
    expect(streamCompleted).toBe(true)
    expect(states).toEqual(['idle', 'connected', 'closing', 'closed'])
    expect(completed).toBe(true)
  })

  it('gives up draining after timeoutMs; settling afterwards rejects with TransportClosedError', async () => {
    const t = transport()
    const topic = unique('timeout')
    const r = record(t, topic, { group: 'g' })
    await t.publish([message(topic, 'stuck')])
    await settle()
    const started = Date.now()
    await t.close({ timeoutMs: 30 })
    expect(Date.now() - started).toBeGreaterThanOrEqual(29)
    const error = await r.deliveries[0]?.ack().catch((e: unknown) => e)
    expect(isSwitchyardError(error, 'TransportClosedError')).toBe(true)
  })

  it('after close every method rejects or errors with TransportClosedError; close is idempotent', async () => {
    const t = transport()
    const topic = unique('after')
    const first = t.close()
    expect(t.close()).toBe(first)
    await first
    const name = 'TransportClosedError'
    await expect(t.publish([message(topic, 'x')])).rejects.toMatchObject({ name })
    await expect(t.provision(topic)).rejects.toMatchObject({ name })
    await expect(t.connect()).rejects.toMatchObject({ name })
    const r = record(t, topic, { group: 'g' })
    expect(r.error).toMatchObject({ name })
    expect(await t.health()).toMatchObject({ status: 'down', state: 'closed', subscriptions: [] })
    await expect(t.close()).resolves.toBeUndefined()
  })

  it('close without drain returns at once and cancels pending delays', async () => {
    const t = transport()
    const topic = unique('nodrain')
    const r = record(t, topic, { group: 'g' })
    await t.publish([message(topic, 'a'), message(topic, 'b')])
    await settle()
    await r.deliveries[0]?.nack({ delayMs: 10_000 })
    await t.close({ drain: false })
    expect((await t.health()).details).toMatchObject({ delayedTimers: 0 })
  })
})
