import { describe, expect, it } from 'vitest'
import { assignBySubscription } from '../subscription-assigner.js'

const three = () => [0, 1, 2]

describe('assignBySubscription', () => {
  it('gives each topic only to members subscribed to it', () => {
    const result = assignBySubscription(
      [
        { memberId: 'a', topics: ['t1'] },
        { memberId: 'b', topics: ['t2'] },
      ],
      three,
    )
    expect(result.get('a')).toEqual({ t1: [0, 1, 2] })
    expect(result.get('b')).toEqual({ t2: [0, 1, 2] })
  })

  it('spreads a topic over its readers, every partition exactly once', () => {
    const result = assignBySubscription(
      [
        { memberId: 'b', topics: ['t'] },
        { memberId: 'a', topics: ['t'] },
        { memberId: 'c', topics: ['other'] },
      ],
      (topic) => (topic === 't' ? [0, 1, 2, 3, 4] : [0]),
    )
    const a = result.get('a')?.t ?? []
    const b = result.get('b')?.t ?? []
    expect([...a, ...b].sort()).toEqual([0, 1, 2, 3, 4])
    expect(Math.abs(a.length - b.length)).toBe(1)
    expect(result.get('c')).toEqual({ other: [0] })
  })

  it('gives a member with no subscribed topic an empty assignment', () => {
    const result = assignBySubscription([{ memberId: 'x', topics: [] }], three)
    expect(result.get('x')).toEqual({})
  })
})
