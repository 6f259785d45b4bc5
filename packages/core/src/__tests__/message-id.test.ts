import { describe, expect, it } from 'vitest'
import { MessageIdSource, messageIdPattern, nextMessageId } from '../message-id.js'

/** The 74 random bits of an id: everything but the version digit, the variant bits and the counter. */
const randomPartOf = (id: string): string => id.slice(0, 24)
const counterOf = (id: string): number => Number.parseInt(id.slice(24), 16)

describe('nextMessageId', () => {
  it('makes RFC 9562 version-8 UUIDs (variant 10xx)', () => {
    for (let i = 0; i < 1000; i++) {
      const id = nextMessageId()
      expect(id).toMatch(messageIdPattern)
      expect(id).toHaveLength(36)
    }
  })

  it('never repeats within a process, and ids sort in the order they were made', () => {
    const ids = Array.from({ length: 100_000 }, () => nextMessageId())
    expect(new Set(ids).size).toBe(100_000)
    expect([...ids].sort()).toEqual(ids)
    expect(new Set(ids.map(randomPartOf)).size).toBe(1)
    const gaps = ids.filter((id, i) => i > 0 && counterOf(id) !== counterOf(ids[i - 1] as string) + 1)
    expect(gaps).toEqual([])
  })

  // Each process (and each worker thread) loads the module afresh and so has its own source.
  it('draws a different random part in each source', () => {
    const parts = new Set(Array.from({ length: 200 }, () => randomPartOf(new MessageIdSource().next())))
    expect(parts.size).toBe(200)
  })

  it('carries the counter across its 24-bit halves', () => {
    const source = new MessageIdSource(2 ** 24 - 2)
    const ids = [source.next(), source.next(), source.next()]
    expect(ids.map((id) => id.slice(24))).toEqual(['000000fffffe', '000000ffffff', '000001000000'])
    expect(new Set(ids.map(randomPartOf)).size).toBe(1)
  })

  it('draws a new random part when the 48-bit counter wraps, so ids still never repeat', () => {
    const source = new MessageIdSource(2 ** 48 - 2)
    const [a, b, c] = [source.next(), source.next(), source.next()] as [string, string, string]
    expect(a.slice(24)).toBe('fffffffffffe')
    expect(b.slice(24)).toBe('ffffffffffff')
    expect(c.slice(24)).toBe('000000000000')
    expect(randomPartOf(a)).toBe(randomPartOf(b))
    expect(randomPartOf(c)).not.toBe(randomPartOf(b))
    expect(c).toMatch(messageIdPattern)
  })
})
