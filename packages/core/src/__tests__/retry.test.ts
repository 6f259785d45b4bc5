import { describe, expect, it } from 'vitest'
import { backoffDelay, DecodeError, isSwitchyardError, normaliseRetry, shouldRetry } from '../spi.js'

const boom = new Error('boom')

describe('normaliseRetry', () => {
  it('applies defaults: 3 attempts, exponential, 100 ms, cap 30 s, jitter', () => {
    expect(normaliseRetry(undefined)).toEqual({
      attempts: 3,
      backoff: 'exponential',
      initialDelayMs: 100,
      maxDelayMs: 30_000,
      jitter: true,
      retryable: undefined,
    })
    expect(normaliseRetry(false).attempts).toBe(1)
    expect(normaliseRetry(7).attempts).toBe(7)
    expect(normaliseRetry({ backoff: 'fixed', initialDelayMs: 5 })).toMatchObject({
      attempts: 3,
      backoff: 'fixed',
    })
  })

  it('throws ConfigError naming the field', () => {
    const fieldOf = (f: () => unknown) => {
      try {
        f()
      } catch (error) {
        if (isSwitchyardError(error, 'ConfigError')) return error.context.field
      }
      return undefined
    }
    expect(fieldOf(() => normaliseRetry(-1))).toBe('retry')
    expect(fieldOf(() => normaliseRetry(1.5))).toBe('retry')
    expect(fieldOf(() => normaliseRetry({ attempts: 0 }))).toBe('retry.attempts')
    expect(fieldOf(() => normaliseRetry({ initialDelayMs: -1 }))).toBe('retry.initialDelayMs')
    expect(fieldOf(() => normaliseRetry({ maxDelayMs: Number.NaN }))).toBe('retry.maxDelayMs')
    expect(fieldOf(() => normaliseRetry({ backoff: 'linear' as never }))).toBe('retry.backoff')
    expect(fieldOf(() => normaliseRetry('3' as never))).toBe('retry')
  })
})

describe('backoffDelay', () => {
  it('doubles per attempt and caps at maxDelayMs without jitter', () => {
    const policy = normaliseRetry({ initialDelayMs: 100, maxDelayMs: 1000, jitter: false, attempts: 10 })
    expect([1, 2, 3, 4, 5, 6].map((a) => backoffDelay(policy, a, boom))).toEqual([
      100, 200, 400, 800, 1000, 1000,
    ])
  })

  it('draws jitter from [delay/2, delay] using the injected random source', () => {
    const policy = normaliseRetry({ initialDelayMs: 100, maxDelayMs: 30_000 })
    expect(backoffDelay(policy, 3, boom, () => 0)).toBe(200)
    expect(backoffDelay(policy, 3, boom, () => 0.5)).toBe(300)
    expect(backoffDelay(policy, 3, boom, () => 0.999999)).toBe(400)
    for (let i = 0; i < 100; i++) {
      const d = backoffDelay(policy, 2, boom)
      expect(d).toBeGreaterThanOrEqual(100)
      expect(d).toBeLessThanOrEqual(200)
    }
  })

  it('uses a fixed delay or a custom function', () => {
    expect(backoffDelay(normaliseRetry({ backoff: 'fixed', initialDelayMs: 250 }), 5, boom)).toBe(250)
    const custom = normaliseRetry({ backoff: (attempt, error) => attempt * 10 + error.message.length })
    expect(backoffDelay(custom, 3, boom)).toBe(34)
    const broken = normaliseRetry({ backoff: () => -1 })
    expect(() => backoffDelay(broken, 1, boom)).toThrow(/retry.backoff returned -1/)
  })
})

describe('shouldRetry', () => {
  it('retries until the last attempt, never a DecodeError, and honours retryable()', () => {
    const policy = normaliseRetry(3)
    expect(shouldRetry(policy, 1, boom)).toBe(true)
    expect(shouldRetry(policy, 2, boom)).toBe(true)
    expect(shouldRetry(policy, 3, boom)).toBe(false)
    expect(shouldRetry(policy, 1, new DecodeError('t', 'bad'))).toBe(false)
    const picky = normaliseRetry({ attempts: 5, retryable: (error) => error.message !== 'fatal' })
    expect(shouldRetry(picky, 1, new Error('fatal'))).toBe(false)
    expect(shouldRetry(picky, 1, boom)).toBe(true)
  })
})
