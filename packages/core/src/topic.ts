/**
 * Topic and group name rules shared by every transport, checked before anything reaches a broker.
 *
 * Names are 1-200 characters from `[A-Za-z0-9._-]`, which every supported broker can carry
 * (Kafka allows 249, RabbitMQ 255 bytes; the margin leaves room for `.dlq` and retry suffixes).
 * Subscriptions on a transport with the `patterns` capability may use `*` (exactly one
 * dot-separated word) and `#` (zero or more words) as whole words.
 */
import { InvalidTopicError } from './errors.js'

const plain = /^[A-Za-z0-9._-]+$/
const maxLength = 200

/** Throws `InvalidTopicError` unless `topic` is a valid topic name (or pattern, when allowed). */
export function validateTopic(topic: unknown, options: { readonly allowPatterns?: boolean } = {}): string {
  if (typeof topic !== 'string') throw new InvalidTopicError(String(topic), 'a topic must be a string')
  if (topic.length === 0) throw new InvalidTopicError(topic, 'it is empty')
  if (topic.length > maxLength)
    throw new InvalidTopicError(topic, `it is longer than ${maxLength} characters`)
  if (plain.test(topic)) return topic
  if (options.allowPatterns && isPattern(topic)) return topic
  throw new InvalidTopicError(
    topic,
    /[*#]/.test(topic)
      ? 'wildcards are allowed only as whole words in subscriptions on a transport with `patterns`'
      : 'it contains characters outside [A-Za-z0-9._-]',
  )
}

/** True when `topic` is a pattern: dot-separated words of which at least one is `*` or `#`. */
export function isPattern(topic: string): boolean {
  const words = topic.split('.')
  return (
    words.some((w) => w === '*' || w === '#') && words.every((w) => w === '*' || w === '#' || plain.test(w))
  )
}

/** Throws `InvalidTopicError` unless `group` is a valid group name (same rules as a topic, no patterns). */
export function validateGroup(group: unknown): string {
  try {
    return validateTopic(group)
  } catch (error) {
    if (error instanceof InvalidTopicError) {
      throw new InvalidTopicError(
        String(group),
        `invalid group name: ${(error.message.split(': ')[1] ?? '').split('.')[0]}`,
      )
    }
    throw error
  }
}

/** True when the concrete `topic` matches `pattern` (`*` one word, `#` zero or more words). */
export function topicMatches(pattern: string, topic: string): boolean {
  if (!isPattern(pattern)) return pattern === topic
  const p = pattern.split('.')
  const t = topic.split('.')
  const match = (i: number, j: number): boolean => {
    if (i === p.length) return j === t.length
    const word = p[i]
    if (word === '#') {
      for (let k = j; k <= t.length; k++) if (match(i + 1, k)) return true
      return false
    }
    if (j === t.length) return false
    return (word === '*' || word === t[j]) && match(i + 1, j + 1)
  }
  return match(0, 0)
}
