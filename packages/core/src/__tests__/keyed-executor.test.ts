import { describe, expect, it } from 'vitest'
import { KeyedExecutor } from '../spi.js'

interface Item {
  readonly id: number
  readonly key: string | undefined
}

/** An executor whose started items are held until the test releases them. */
function harness(concurrency: number) {
  const running: Item[] = []
  const started: number[] = []
  const executor = new KeyedExecutor<Item>(
    concurrency,
    (item) => item.key,
    (item) => {
      running.push(item)
      started.push(item.id)
    },
  )
  const finish = (id: number) => {
    const index = running.findIndex((item) => item.id === id)
    const [item] = running.splice(index, 1)
    if (!item) throw new Error(`item ${id} is not running`)
    executor.release(item)
  }
  return { executor, running, started, finish }
}

describe('KeyedExecutor', () => {
  it('never runs more than `concurrency` items at once', () => {
    const { executor, running, started, finish } = harness(2)
    for (let id = 0; id < 5; id++) executor.push({ id, key: undefined })
    expect(started).toEqual([0, 1])
    expect(executor.pending).toBe(3)
    finish(0)
    expect(started).toEqual([0, 1, 2])
    finish(2)
    finish(1)
    expect(running.map((i) => i.id)).toEqual([3, 4])
    expect(executor.running).toBe(2)
    expect(executor.pending).toBe(0)
  })

  it('runs same-key items one at a time in arrival order; other keys pass', () => {
    const { executor, started, finish } = harness(4)
    executor.push({ id: 1, key: 'a' })
    executor.push({ id: 2, key: 'a' })
    executor.push({ id: 3, key: 'b' })
    executor.push({ id: 4, key: 'a' })
    executor.push({ id: 5, key: undefined })
    expect(started).toEqual([1, 3, 5])
    finish(1)
    expect(started).toEqual([1, 3, 5, 2])
    finish(2)
    expect(started).toEqual([1, 3, 5, 2, 4])
    finish(3)
    finish(4)
    finish(5)
    expect(executor.running).toBe(0)
  })

  it('keeps per-key order under a full concurrency bound and does not starve other keys', () => {
    const { executor, running, started, finish } = harness(1)
    executor.push({ id: 1, key: 'hot' })
    executor.push({ id: 2, key: 'hot' })
    executor.push({ id: 3, key: 'cold' })
    executor.push({ id: 4, key: 'hot' })
    finish(1)
    // The next 'hot' item joins the back of the ready queue, behind 'cold'.
    expect(started).toEqual([1, 3])
    finish(3)
    finish(2)
    finish(4)
    expect(started).toEqual([1, 3, 2, 4])
    expect(running).toEqual([])
  })

  it('processes many items with random keys: bound and per-key order hold', () => {
    const { executor, running, started, finish } = harness(8)
    const keys = ['a', 'b', 'c', undefined]
    const byKey = new Map<string | undefined, number[]>()
    for (let id = 0; id < 2000; id++) {
      const key = keys[(id % 7) % 4]
      executor.push({ id, key })
      byKey.set(key, [...(byKey.get(key) ?? []), id])
      if (id % 3 === 0 && running.length > 0) finish((running[Math.floor(running.length / 2)] as Item).id)
      expect(running.length).toBeLessThanOrEqual(8)
      const keyed = running.filter((i) => i.key !== undefined).map((i) => i.key)
      expect(new Set(keyed).size).toBe(keyed.length)
    }
    while (running.length > 0) finish((running[0] as Item).id)
    expect(started).toHaveLength(2000)
    for (const key of ['a', 'b', 'c']) {
      expect(started.filter((id) => keys[(id % 7) % 4] === key)).toEqual(byKey.get(key))
    }
  })

  it('takePending removes queued items and leaves keys usable', () => {
    const { executor, started, finish } = harness(1)
    executor.push({ id: 1, key: 'a' })
    executor.push({ id: 2, key: 'b' })
    executor.push({ id: 3, key: 'a' })
    executor.push({ id: 4, key: 'b' })
    const taken = executor.takePending().map((i) => i.id)
    expect(taken.sort()).toEqual([2, 3, 4])
    expect(executor.pending).toBe(0)
    finish(1)
    executor.push({ id: 5, key: 'b' })
    executor.push({ id: 6, key: 'a' })
    expect(started).toEqual([1, 5])
    finish(5)
    expect(started).toEqual([1, 5, 6])
  })
})

describe('KeyedExecutor with synchronous work', () => {
  it('runs 100,000 items that finish inside start without growing the stack', () => {
    const order: number[] = []
    const executor: KeyedExecutor<Item> = new KeyedExecutor<Item>(
      2,
      (item) => item.key,
      (item) => {
        order.push(item.id)
        executor.release(item)
      },
    )
    for (let id = 0; id < 100_000; id++) executor.push({ id, key: id % 2 ? 'odd' : undefined })
    expect(order).toHaveLength(100_000)
    expect(order.slice(0, 5)).toEqual([0, 1, 2, 3, 4])
    expect(executor.running).toBe(0)
    expect(executor.pending).toBe(0)
  })

  it('does not recurse when many queued items all finish synchronously', () => {
    let depth = 0
    let maxDepth = 0
    let hold = true
    const held: Item[] = []
    const executor: KeyedExecutor<Item> = new KeyedExecutor<Item>(
      1,
      () => undefined,
      (item) => {
        depth++
        maxDepth = Math.max(maxDepth, depth)
        if (hold) held.push(item)
        else executor.release(item)
        depth--
      },
    )
    for (let id = 0; id < 50_000; id++) executor.push({ id, key: undefined })
    expect(executor.pending).toBe(49_999)
    hold = false
    executor.release(held[0] as Item)
    expect(executor.pending).toBe(0)
    expect(maxDepth).toBe(1)
  })
})
