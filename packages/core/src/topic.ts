/**
 * Topic and group name rules shared by every transport, checked before anything reaches a broker.
 *
 * Names are 1-200 characters from `[A-Za-z0-9._-]`, which every supported broker can carry
 * (Kafka allows 249, RabbitMQ 255 bytes; the margin leaves room for `.dlq` and retry suffixes).
 * Names that are not portable are refused on every transport, not only on the broker that
 * cannot take them: empty dot-separated words (`.`, `..`, `a..b`, `.a`, `a.`), and names starting
 * with `__`, which Kafka reserves for its internal topics (`__consumer_offsets`).
 * Subscriptions on a transport with the `patterns` capability may use `*` (exactly one
 * dot-separated word) and `#` (zero or more words) as whole words.
 */
import { InvalidTopicError } from './errors.js'

const plain = /^[A-Za-z0-9._-]+$/
const maxLength = 200

/** Throws `InvalidTopicError` unless `topic` is a valid topic name (or pattern, when allowed). */
export function validateTopic(topic: unknown, options: { readonly allowPatterns?: boolean } = {}): string {
  const problem = nameProblem(topic, options.allowPatterns ?? false)
  if (problem !== undefined) throw new InvalidTopicError(String(topic), problem)
  return topic as string
}

/** Whether `name` is a valid topic name (no patterns): for listing broker objects, where a name that is not one is skipped. */
export function isTopicName(name: unknown): name is string {
  return nameProblem(name, false) === undefined
}

/** Why `name` is not a valid topic (or pattern, when allowed), or `undefined` when it is. */
function nameProblem(name: unknown, allowPatterns: boolean): string | undefined {
  if (typeof name !== 'string') return 'a name must be a string'
  if (name.length === 0) return 'it is empty'
  if (name.length > maxLength) return `it is longer than ${maxLength} characters`
  if (!plain.test(name) && !(allowPatterns && isPattern(name))) {
    return /[*#]/.test(name)
      ? 'wildcards are allowed only as whole words in subscriptions on a transport with `patterns`'
      : 'it contains characters outside [A-Za-z0-9._-]'
  }
  if (name.split('.').includes('')) {
    return 'it has an empty dot-separated word (`.`, `..`, or a leading or trailing dot)'
  }
  if (name.startsWith('__')) return 'names starting with `__` are reserved for Kafka internal topics'
  return undefined
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
  const problem = nameProblem(group, false)
  if (problem !== undefined) throw new InvalidTopicError(String(group), `invalid group name: ${problem}`)
  return group as string
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
