/**
 * Edges of the derived store, on the memory store: values JSON cannot hold as given, lease options
 * etcd would refuse, namespaces without a trailing slash, and what a section reports for a key
 * that is not written yet or is deleted.
 */
import { expectSwitchyardError, waitFor } from '@switchyard/contract'
import { afterEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import type { ConfigStore } from '../config-store.js'
import { MemoryConfigBackend } from '../memory-config-backend.js'
import { MemoryConfigStore } from '../memory-config-store.js'

const backends: MemoryConfigBackend[] = []
const stores: ConfigStore[] = []
const open = (options: { namespace?: string; backend?: MemoryConfigBackend } = {}) => {
  const backend = options.backend ?? new MemoryConfigBackend()
  backends.push(backend)
  const store = new MemoryConfigStore({ ...options, backend })
  stores.push(store)
  return store
}
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()))
  for (const b of backends.splice(0)) b.dispose()
})

describe('values JSON cannot store as given', () => {
  it('refuses a circular value with a ConfigError naming the path, not a RangeError', async () => {
    const store = open()
    const doc: Record<string, unknown> = { a: { b: 1 } }
    ;(doc.a as Record<string, unknown>).self = doc
    const error = await expectSwitchyardError(store.put('cyclic', doc), 'ConfigError')
    expect(error.context.field).toBe('a.self')
    expect(error.message).toContain('circular')
    // The same object twice, side by side, is not a cycle.
    const shared = { n: 1 }
    await store.put('shared', { x: shared, y: shared })
    expect((await store.get('shared'))?.value).toEqual({ x: { n: 1 }, y: { n: 1 } })
  })

  it.each([
    ['undefined', undefined, '(value)'],
    ['NaN', Number.NaN, '(value)'],
    ['Infinity in a field', { limit: Number.POSITIVE_INFINITY }, 'limit'],
    ['a Map', new Map([['a', 1]]), '(value)'],
    ['a Set in a field', { tags: new Set(['x']) }, 'tags'],
    ['undefined in an array', [1, undefined], '[1]'],
    ['a typed array', { bytes: new Uint8Array([1]) }, 'bytes'],
  ])('refuses %s instead of storing something else', async (_what, value, path) => {
    const store = open()
    const error = await expectSwitchyardError(store.put('v', value), 'ConfigError')
    expect(error.message).toContain(path)
    expect(await store.get('v')).toBeUndefined()
  })

  it('still stores what JSON holds: undefined fields are left out, dates become ISO strings', async () => {
    const store = open()
    await store.put('v', { a: undefined, b: null, at: new Date(0), n: [1, 2] })
    expect((await store.get('v'))?.value).toEqual({ b: null, at: '1970-01-01T00:00:00.000Z', n: [1, 2] })
  })
})

describe('lease options', () => {
  it.each([0, -5, Number.NaN, 1.5])(
    'refuses lock ttlSeconds %s with a typed ConfigError',
    async (ttlSeconds) => {
      const store = open()
      const error = await expectSwitchyardError(store.lock('job', { ttlSeconds }), 'ConfigError')
      expect(error.context.field).toBe('ttlSeconds')
      expect(() => store.election('leader', { ttlSeconds })).toThrow(/ttlSeconds/)
    },
  )

  it('refuses a negative or NaN lock timeout', async () => {
    const store = open()
    const error = await expectSwitchyardError(store.lock('job', { timeoutMs: Number.NaN }), 'ConfigError')
    expect(error.context.field).toBe('timeoutMs')
    await expectSwitchyardError(store.lock('job', { timeoutMs: -1 }), 'ConfigError')
  })
})

describe('namespaces', () => {
  it('treats a namespace without a trailing slash as the folder it names', async () => {
    const backend = new MemoryConfigBackend()
    const bare = open({ backend, namespace: '/apps/billing' })
    const slashed = open({ backend, namespace: '/apps/billing/' })
    const root = open({ backend })
    expect(bare.namespace).toBe('/apps/billing/')
    await bare.put('transport', { kind: 'memory' })
    expect((await slashed.get('transport'))?.value).toEqual({ kind: 'memory' })
    expect((await root.get('/apps/billing/transport'))?.value).toEqual({ kind: 'memory' })
    expect(await root.get('/apps/billingtransport')).toBeUndefined()
  })
})

describe('sections', () => {
  it('reports nothing for a key not written yet, then the value; a delete is reported as a delete', async () => {
    const store = open()
    const section = store.section('limits', z.object({ max: z.number() }))
    const values: unknown[] = []
    const errors: string[] = []
    const subs = [
      section.value$.subscribe((v) => values.push(v)),
      section.errors$.subscribe((e) => errors.push(e.message)),
    ]
    await store.put('limits', { max: 3 })
    await waitFor(() => values.length === 1, { description: 'the first value' })
    expect(errors).toEqual([])
    await store.delete('limits')
    await waitFor(() => errors.length === 1, { description: 'the delete reported' })
    expect(errors[0]).toContain('deleted')
    expect(errors[0]).not.toContain('never written')
    expect(section.current).toEqual({ max: 3 })
    for (const sub of subs) sub.unsubscribe()
  })
})

describe('close', () => {
  it('rejects a lock still waiting when its store is closed, instead of leaving it pending', async () => {
    const backend = new MemoryConfigBackend()
    const holder = open({ backend })
    const waiter = open({ backend })
    const held = await holder.lock('job', { ttlSeconds: 5 })
    const waiting = waiter.lock('job', { ttlSeconds: 5 })
    const outcome = waiting.then(
      () => 'acquired',
      (error: Error) => error.name,
    )
    await waitFor(() => backend.range('__locks/job/').length === 2, { description: 'both contenders queued' })
    await waiter.close()
    expect(await outcome).toBe('TransportClosedError')
    await held.release()
  })
})
