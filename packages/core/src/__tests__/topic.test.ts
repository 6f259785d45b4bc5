import { describe, expect, it } from 'vitest'
import { InvalidTopicError, validateGroup, validateTopic } from '../spi.js'

describe('validateTopic', () => {
  it('accepts portable names and whole-word patterns where allowed', () => {
    expect(validateTopic('orders.created')).toBe('orders.created')
    expect(validateTopic('a_b-c.9')).toBe('a_b-c.9')
    expect(validateTopic('orders.*.#', { allowPatterns: true })).toBe('orders.*.#')
  })

  it.each([
    ['.', 'empty dot-separated word'],
    ['..', 'empty dot-separated word'],
    ['a..b', 'empty dot-separated word'],
    ['.a', 'empty dot-separated word'],
    ['a.', 'empty dot-separated word'],
    ['__consumer_offsets', 'reserved for Kafka'],
    ['', 'it is empty'],
    ['a b', 'outside [A-Za-z0-9._-]'],
  ])('refuses %j (%s)', (name, reason) => {
    expect(() => validateTopic(name)).toThrow(InvalidTopicError)
    expect(() => validateTopic(name)).toThrow(reason)
  })

  it('refuses empty words in patterns too', () => {
    expect(() => validateTopic('orders..*', { allowPatterns: true })).toThrow(InvalidTopicError)
  })
})

describe('validateGroup', () => {
  it('names the rule that failed in a readable message', () => {
    let message = ''
    try {
      validateGroup('bad group')
    } catch (error) {
      message = (error as Error).message
    }
    expect(message).toContain('invalid group name: it contains characters outside [A-Za-z0-9._-]. Use 1-200')
    expect(() => validateGroup('__g')).toThrow('invalid group name: names starting with `__`')
  })
})
