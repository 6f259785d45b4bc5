/** Behaviour of the memory store beyond the contract: lease loss, watch cancellation, zod sections. */

import { waitFor } from '@switchyard/contract'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { MemoryConfigBackend } from '../memory-config-backend.js'
import { MemoryConfigStore, MemoryLink } from '../memory-config-store.js'

describe('MemoryConfigStore', () => {
  it('reports a lost lock lease when its client is cut off past the TTL, and lets the next holder in', async () => {
    const backend = new MemoryConfigBackend()
    const link = new MemoryLink()
    const a = new MemoryConfigStore({ backend, link })
    const b = new MemoryConfigStore({ backend })
    try {
      const lock = await a.lock('job', { ttlSeconds: 1 })
      const lost: string[] = []
      lock.lost$.subscribe((e) => lost.push(e.name))
      link.cut()
      const next = await b.lock('job', { ttlSeconds: 1, timeoutMs: 5_000 })
      await waitFor(() => lost.length === 1, { timeoutMs: 5_000, description: 'the lost lease reported' })
      expect(lost).toEqual(['LeaseLostError'])
      await next.release()
    } finally {
      link.heal()
      await Promise.all([a.close(), b.close()])
      backend.dispose()
    }
  })

  it('stops delivering to a watcher once unsubscribed', async () => {
    const backend = new MemoryConfigBackend()
    const store = new MemoryConfigStore({ backend })
    const seen: string[] = []
    const sub = store.watch$({ prefix: '' }).subscribe((e) => seen.push(e.type))
    await store.put('a', 1)
    sub.unsubscribe()
    await store.put('a', 2)
    expect(seen).toEqual(['snapshot', 'put'])
    await store.close()
    backend.dispose()
  })

  it('emits parsed zod values and reports invalid ones by field, keeping the last valid value', async () => {
    const backend = new MemoryConfigBackend()
    const store = new MemoryConfigStore({ backend })
    const schema = z.object({
      retries: z.number().int().min(0),
      mode: z.enum(['fast', 'safe']).default('safe'),
    })
    await store.put('policy', { retries: 3 })
    const section = store.section('policy', schema)
    const values: unknown[] = []
    const errors: string[] = []
    section.errors$.subscribe((e) => errors.push(String(e.context.field)))
    const sub = section.value$.subscribe((v) => values.push(v))
    await waitFor(() => values.length === 1, { description: 'the first value' })
    expect(values[0]).toEqual({ retries: 3, mode: 'safe' })
    await store.put('policy', { retries: -1 })
    await waitFor(() => errors.length === 1, { description: 'the invalid change' })
    expect(errors).toEqual(['retries'])
    expect(section.current).toEqual({ retries: 3, mode: 'safe' })
    sub.unsubscribe()
    await store.close()
    backend.dispose()
  })

  it('rejects every call after close with TransportClosedError', async () => {
    const backend = new MemoryConfigBackend()
    const store = new MemoryConfigStore({ backend })
    await store.close()
    await expect(store.get('a')).rejects.toMatchObject({ name: 'TransportClosedError' })
    backend.dispose()
  })
})
