/**
 * Unit tests of the helpers the contract suites are built from (and adapters reuse). The suites
 * themselves are exercised by every transport's contract test file.
 */
import { InvalidTopicError, TransportClosedError } from '@switchyard/core'
import { validateTopic } from '@switchyard/core/spi'
import { describe, expect, it } from 'vitest'
import { resolveContractOptions } from '../contract-options.js'
import { createMessage, payloadText } from '../create-message.js'
import { expectSwitchyardError } from '../expect-switchyard-error.js'
import { uniqueName } from '../unique-name.js'
import { waitFor, withDeadline } from '../wait-for.js'

describe('waitFor', () => {
  it('resolves once the condition holds', async () => {
    let polls = 0
    await waitFor(() => ++polls === 3, { intervalMs: 1 })
    expect(polls).toBe(3)
  })

  it('accepts an async condition', async () => {
    let polls = 0
    await waitFor(async () => ++polls === 2, { intervalMs: 1 })
    expect(polls).toBe(2)
  })

  it('throws with the description, evaluated at the deadline', async () => {
    let polls = 0
    const error = await waitFor(
      () => {
        polls++
        return false
      },
      { timeoutMs: 30, intervalMs: 5, description: () => `ten messages, got ${polls}` },
    ).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(Error)
    expect((error as Error).message).toMatch(
      /^waitFor: timed out after 30 ms waiting for ten messages, got \d+$/,
    )
    expect(polls).toBeGreaterThan(1)
  })

  it('fails at once when the condition throws', async () => {
    const boom = new Error('stream errored')
    const started = Date.now()
    await expect(
      waitFor(
        () => {
          throw boom
        },
        { timeoutMs: 10_000 },
      ),
    ).rejects.toBe(boom)
    expect(Date.now() - started).toBeLessThan(5_000)
  })
})

describe('withDeadline', () => {
  it('passes the value through', async () => {
    await expect(withDeadline(Promise.resolve(7), 1_000, 'x')).resolves.toBe(7)
  })

  it('rejects naming the operation when it hangs', async () => {
    await expect(withDeadline(new Promise(() => {}), 10, 'close()')).rejects.toThrow(
      'close() did not finish within 10 ms',
    )
  })
})

describe('uniqueName', () => {
  it('adds 12 random hex characters and is a valid topic name', () => {
    const a = uniqueName('contract.orders')
    const b = uniqueName('contract.orders')
    expect(a).toMatch(/^contract\.orders\.[0-9a-f]{12}$/)
    expect(a).not.toBe(b)
    expect(validateTopic(a)).toBe(a)
  })
})

describe('createMessage', () => {
  it('fills id, timestamp, headers and encodes text payloads as UTF-8', () => {
    const before = Date.now()
    const m = createMessage('t', { payload: 'grüße' })
    expect(m.id).toMatch(/^[0-9a-f-]{36}$/)
    expect(m.timestamp).toBeGreaterThanOrEqual(before)
    expect(m.headers).toEqual({})
    expect(payloadText(m.payload)).toBe('grüße')
    expect('key' in m).toBe(false)
    expect('priority' in m).toBe(false)
  })

  it('keeps given fields and bytes', () => {
    const bytes = Uint8Array.of(0, 255)
    const m = createMessage('t', {
      id: 'i',
      key: 'k',
      priority: 3,
      timestamp: 5,
      headers: { h: 'v' },
      payload: bytes,
    })
    expect(m).toEqual({
      topic: 't',
      id: 'i',
      key: 'k',
      priority: 3,
      timestamp: 5,
      headers: { h: 'v' },
      payload: bytes,
    })
  })
})

describe('expectSwitchyardError', () => {
  it('returns the error when its name matches', async () => {
    const error = await expectSwitchyardError(
      Promise.reject(new TransportClosedError('publish')),
      'InvalidTopicError',
      'TransportClosedError',
    )
    expect(error.name).toBe('TransportClosedError')
  })

  it('counts a synchronous throw', async () => {
    const error = await expectSwitchyardError(() => validateTopic(''), 'InvalidTopicError')
    expect(error).toBeInstanceOf(InvalidTopicError)
  })

  it('fails when the operation succeeds or fails differently', async () => {
    await expect(expectSwitchyardError(Promise.resolve(1), 'InvalidTopicError')).rejects.toThrow(
      'expected InvalidTopicError, but the operation succeeded',
    )
    await expect(
      expectSwitchyardError(Promise.reject(new TypeError('x')), 'InvalidTopicError'),
    ).rejects.toThrow('expected InvalidTopicError, got TypeError: x')
  })
})

describe('resolveContractOptions', () => {
  it('applies defaults and refuses a non-positive timeScale', () => {
    expect(resolveContractOptions()).toEqual({ restartBroker: undefined, timeScale: 1, clockToleranceMs: 20 })
    expect(() => resolveContractOptions({ timeScale: 0 })).toThrow('timeScale must be a positive number')
    expect(() => resolveContractOptions({ clockToleranceMs: -1 })).toThrow('clockToleranceMs must be')
  })
})
