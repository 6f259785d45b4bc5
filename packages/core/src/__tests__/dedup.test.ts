/**
 * `dedupe` option checks and `MemoryDedupStore` claim semantics (pure logic). The middleware on a
 * broker, with racing consumers, is in the contract suite.
 */
import { describe, expect, it } from 'vitest'
import { dedupe, MemoryDedupStore } from '../index.js'
import { configErrorField } from './config-field.js'

describe('dedupe options', () => {
  it('refuses a store without the DedupStore methods and bad durations, naming the field', () => {
    expect(configErrorField(() => dedupe({ store: {} as never }))).toBe('store')
    const store = new MemoryDedupStore()
    expect(configErrorField(() => dedupe({ store, windowMs: 0 }))).toBe('windowMs')
    expect(configErrorField(() => dedupe({ store, leaseMs: Number.NaN }))).toBe('leaseMs')
    expect(configErrorField(() => dedupe({ store, retryDelayMs: -1 }))).toBe('retryDelayMs')
    expect(configErrorField(() => dedupe({ store, key: 'id' as never }))).toBe('key')
  })
})

describe('MemoryDedupStore', () => {
  it('gives a key to exactly one claimer, reports in-progress, then done after complete', async () => {
    const store = new MemoryDedupStore()
    const results = await Promise.all([store.claim('k', 'a', 10_000), store.claim('k', 'b', 10_000)])
    expect(results).toEqual(['claimed', 'in-progress'])
    await store.complete('k', 'b', 10_000) // not b's claim: ignored
    expect(await store.claim('k', 'c', 10_000)).toBe('in-progress')
    await store.complete('k', 'a', 10_000)
    expect(await store.claim('k', 'c', 10_000)).toBe('done')
  })

  it('release by the holder frees the key; release by another token does not', async () => {
    const store = new MemoryDedupStore()
    await store.claim('k', 'a', 10_000)
    await store.release('k', 'b')
    expect(await store.claim('k', 'c', 10_000)).toBe('in-progress')
    await store.release('k', 'a')
    expect(await store.claim('k', 'c', 10_000)).toBe('claimed')
  })

  it('an expired claim (a crashed holder) can be claimed again', async () => {
    const store = new MemoryDedupStore()
    await store.claim('k', 'a', 1)
    await new Promise((resolve) => setTimeout(resolve, 5))
    expect(await store.claim('k', 'b', 10_000)).toBe('claimed')
  })
})
