/**
 * `Naming`: the names of every exchange and queue the RabbitMQ transport declares.
 *
 * One scheme, documented in the README, so operators can find a group's queue by hand:
 * - `<prefix>.topics`: the durable topic exchange; the routing key is the topic.
 * - `<prefix>:<topic or pattern>:<group>`: a group's durable queue (`:` never occurs in topics or
 *   groups, so two (topic, group) pairs never share a queue). Names over 255 bytes keep their
 *   first 230 characters and end with `~` and a hash of the full name.
 * - `<prefix>.delay`: headers exchange in front of the delay queues.
 * - `<prefix>.delay.<ms>`: one TTL queue per delay bucket, dead-lettering back through the
 *   default exchange to the one queue the message came from.
 *
 * This module only computes names; it declares nothing.
 */
import { createHash } from 'node:crypto'

/**
 * Header the delay exchange routes on (the bucket in ms, as a string). Not `x-`: RabbitMQ's headers
 * exchange ignores `x-` headers when matching. Removed again on delivery.
 */
export const delayBucketHeader = 'switchyard-delay-bucket'

const maxQueueName = 255

export class Naming {
  readonly exchange: string
  readonly delayExchange: string
  readonly #prefix: string

  constructor(prefix: string) {
    this.#prefix = prefix
    this.exchange = `${prefix}.topics`
    this.delayExchange = `${prefix}.delay`
  }

  /** The durable queue of `group` on `topic` (a topic or a pattern). */
  groupQueue(topic: string, group: string): string {
    const name = `${this.#prefix}:${topic}:${group}`
    if (Buffer.byteLength(name) <= maxQueueName) return name
    const hash = createHash('sha256').update(name).digest('hex').slice(0, 16)
    return `${name.slice(0, 230)}~${hash}`
  }

  /** The TTL queue holding messages delayed by `bucketMs`. */
  delayQueue(bucketMs: number): string {
    return `${this.#prefix}.delay.${bucketMs}`
  }
}

/**
 * Rounds a delay up to its bucket, so the number of delay queues stays small (at most 8 per
 * doubling: ≤ 12.5% later than asked, never earlier). Delays up to 16 ms are kept as they are.
 */
export function delayBucket(delayMs: number): number {
  const ms = Math.max(1, Math.ceil(delayMs))
  if (ms <= 16) return ms
  const exponent = Math.floor(Math.log2(ms)) - 3
  const step = 2 ** exponent
  return Math.ceil(ms / step) * step
}
