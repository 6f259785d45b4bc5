import { describe, expect, it } from 'vitest'
import { MemoryTransport, type MemoryTransportOptions } from '../index.js'
import { message, record, settle, text, unique, until, useTransports } from './helpers.js'

const transport = useTransports()

describe('groups', () => {
  it('fans out to every group and shares a group between its consumers', async () => {
    const t = transport()
    const topic = unique('fanout')
    const a1 = record(t, topic, { group: 'a' })
    const a2 = record(t, topic, { group: 'a' })
    const b = record(t, topic, { group: 'b' })
    const batch = Array.from({ length: 40 }, (_, i) => message(topic, `m${i}`))
    await t.publish(batch)
    await settle()
    expect(b.texts()).toEqual(batch.map((_, i) => `m${i}`))
    expect(a1.deliveries.length).toBe(20)
    expect(a2.deliveries.length).toBe(20)
    expect(new Set([...a1.texts(), ...a2.texts()]).size).toBe(40)
  })

  it('carries id, key, headers, payload and timestamp unchanged, attempt 1', async () => {
    const t = transport()
    const topic = unique('fields')
    const r = record(t, topic, { group: 'g' })
    const sent = {
      ...message(topic, 'x', { key: 'k', headers: { 'x-a': 'é', b: '' } }),
      payload: new Uint8Array([0, 255, 7]),
    }
    await t.publish([sent])
    await settle()
    expect(r.deliveries[0]?.message).toEqual({
      id: sent.id,
      topic,
      key: 'k',
      headers: { 'x-a': 'é', b: '' },
      payload: new Uint8Array([0, 255, 7]),
      timestamp: sent.timestamp,
      attempt: 1,
    })
  })

  it('a provisioned group receives messages published before its first consumer', async () => {
    const t = transport({ retention: 0 })
    const topic = unique('provision')
    await t.provision(topic, { groups: ['early'] })
    await t.publish([message(topic, 'before')])
    const early = record(t, topic, { group: 'early' })
    const late = record(t, topic, { group: 'late' })
    await settle()
    expect(early.texts()).toEqual(['before'])
    expect(late.texts()).toEqual([])
  })

  it('a group-less subscription is ready synchronously and sees only later messages', async () => {
    const t = transport()
    const topic = unique('ephemeral')
    await t.publish([message(topic, 'old')])
    let ready = false
    const r = record(t, topic, {
      onReady: () => {
        ready = true
      },
    })
    expect(ready).toBe(true)
    await t.publish([message(topic, 'new')])
    await settle()
    expect(r.texts()).toEqual(['new'])
  })
})

describe('replay', () => {
  it('a new group with fromBeginning starts with the retained messages, bounded by retention', async () => {
    const t = transport({ retention: 3 })
    const topic = unique('replay')
    await t.publish(['m1', 'm2', 'm3', 'm4', 'm5'].map((m) => message(topic, m)))
    const replayed = record(t, topic, { group: unique('g'), fromBeginning: true })
    const fresh = record(t, topic, { group: unique('g') })
    await t.publish([message(topic, 'm6')])
    await settle()
    expect(replayed.texts()).toEqual(['m3', 'm4', 'm5', 'm6'])
    expect(fresh.texts()).toEqual(['m6'])
  })

  it('fromBeginning is ignored for a group that already exists', async () => {
    const t = transport()
    const topic = unique('existing')
    await t.provision(topic, { groups: ['g'] })
    await t.publish([message(topic, 'after-provision')])
    const r = record(t, topic, { group: 'g', fromBeginning: true })
    await settle()
    expect(r.texts()).toEqual(['after-provision'])
  })

  it('retention 0 turns replay off: fromBeginning then errors with CapabilityError', () => {
    const t = transport({ retention: 0 })
    expect(t.capabilities.replay).toBe(false)
    expect(record(t, unique('noreplay'), { group: 'g', fromBeginning: true }).error).toMatchObject({
      name: 'CapabilityError',
    })
    expect(transport().capabilities).toMatchObject({ replay: true, orderedByKey: true, persistent: false })
  })
})

describe('patterns', () => {
  it('matches * as one word and # as any number of words, with topic isolation', async () => {
    const t = transport()
    const base = unique('orders')
    const star = record(t, `${base}.*`, { group: 'star' })
    const hash = record(t, `${base}.#`, { group: 'hash' })
    const exact = record(t, `${base}.created`, { group: 'exact' })
    await t.publish([
      message(`${base}.created`, 'created'),
      message(`${base}.eu.created`, 'eu'),
      message(base, 'bare'),
      message(`${base}x.created`, 'other'),
    ])
    await settle()
    expect(star.texts()).toEqual(['created'])
    expect(hash.texts()).toEqual(['created', 'eu', 'bare'])
    expect(exact.texts()).toEqual(['created'])
    expect(star.deliveries[0]?.message.topic).toBe(`${base}.created`)
  })

  it('a pattern group created with fromBeginning replays every matching topic', async () => {
    const t = transport()
    const base = unique('logs')
    await t.publish([message(`${base}.a`, 'a1'), message(`${base}.b`, 'b1'), message(`${base}x`, 'no')])
    const r = record(t, `${base}.*`, { group: 'g', fromBeginning: true })
    await until(() => r.deliveries.length === 2)
    expect(r.texts().sort()).toEqual(['a1', 'b1'])
    expect(r.deliveries.map(text)).not.toContain('no')
  })
})

describe('validation', () => {
  it('rejects invalid topics and groups with InvalidTopicError', async () => {
    const t = transport()
    await expect(t.publish([message('bad topic', 'x')])).rejects.toMatchObject({ name: 'InvalidTopicError' })
    await expect(t.publish([message('a.*', 'x')])).rejects.toMatchObject({ name: 'InvalidTopicError' })
    await expect(t.provision('ok', { groups: ['bad group'] })).rejects.toMatchObject({
      name: 'InvalidTopicError',
    })
    expect(record(t, 'a..#x').error).toMatchObject({ name: 'InvalidTopicError' })
    expect(record(t, 'ok', { group: '' }).error).toMatchObject({ name: 'InvalidTopicError' })
  })

  it('rejects a publish argument that is not an array with ConfigError', async () => {
    const t = transport()
    const single = message(unique('single'), 'x') as unknown as never[]
    await expect(t.publish(single)).rejects.toMatchObject({
      name: 'ConfigError',
      context: { field: 'messages' },
    })
  })

  it('rejects bad subscribe options with ConfigError naming the field', () => {
    const t = transport()
    for (const inFlight of [0, -1, 1.5, Number.NaN]) {
      expect(record(t, 'ok', { group: 'g', inFlight }).error).toMatchObject({
        name: 'ConfigError',
        context: { field: 'inFlight' },
      })
    }
  })

  it('rejects bad transport options with ConfigError naming the field', () => {
    expect(() => new MemoryTransport({ retention: -1 })).toThrow(
      expect.objectContaining({ context: expect.objectContaining({ field: 'retention' }) }),
    )
    expect(() => new MemoryTransport({ maxMessageBytes: 0 })).toThrow(
      expect.objectContaining({ name: 'ConfigError' }),
    )
    expect(() => new MemoryTransport({ retension: 5 } as MemoryTransportOptions)).toThrow(/retension/)
    expect(
      new MemoryTransport({ kind: 'memory', maxMessageBytes: Number.POSITIVE_INFINITY }).capabilities
        .maxMessageBytes,
    ).toBeUndefined()
  })

  it('refuses a whole batch with MessageTooLargeError when one message is over the limit, headers included', async () => {
    const t = transport({ maxMessageBytes: 100 })
    const topic = unique('large')
    const r = record(t, topic, { group: 'g' })
    const small = message(topic, 'ok')
    const big = { ...message(topic, ''), payload: new Uint8Array(101) }
    const bigHeaders = message(topic, 'x'.repeat(50), { headers: { h: 'é'.repeat(25) } })
    await expect(t.publish([small, big])).rejects.toMatchObject({
      name: 'MessageTooLargeError',
      sizeBytes: 101,
      limitBytes: 100,
    })
    await expect(t.publish([small, bigHeaders])).rejects.toMatchObject({
      name: 'MessageTooLargeError',
      sizeBytes: 101,
    })
    await t.publish([{ ...message(topic, ''), payload: new Uint8Array(100) }])
    await settle()
    expect(r.deliveries.map((d) => d.message.payload.byteLength)).toEqual([100])
  })
})
