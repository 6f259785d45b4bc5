import { describe, expect, it } from 'vitest'
import { Deque } from '../deque.js'

function drain<T>(deque: Deque<T>): T[] {
  const out: T[] = []
  while (deque.length > 0) out.push(deque.shift() as T)
  return out
}

describe('Deque', () => {
  it('keeps FIFO order across growth and wrap-around', () => {
    const d = new Deque<number>()
    const expected: number[] = []
    let next = 0
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 7; i++) {
        d.push(next)
        expected.push(next++)
      }
      for (let i = 0; i < 5; i++) expect(d.shift()).toBe(expected.shift())
    }
    expect(d.length).toBe(expected.length)
    expect(drain(d)).toEqual(expected)
    expect(d.shift()).toBeUndefined()
  })

  it('puts unshifted items first, also when unshift makes it grow', () => {
    const d = new Deque<number>()
    for (let i = 0; i < 20; i++) d.push(i)
    for (let i = -1; i >= -20; i--) d.unshift(i)
    expect(drain(d)).toEqual([
      ...Array.from({ length: 20 }, (_, i) => i - 20),
      ...Array.from({ length: 20 }, (_, i) => i),
    ])
  })

  it('stays usable after a large burst is drained', () => {
    const d = new Deque<number>()
    for (let i = 0; i < 10_000; i++) d.push(i)
    expect(drain(d).length).toBe(10_000)
    d.push(1)
    d.unshift(0)
    expect(drain(d)).toEqual([0, 1])
  })
})
