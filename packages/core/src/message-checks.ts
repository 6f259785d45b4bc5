/**
 * `checkMessages`: the per-message checks a derived transport runs before a batch reaches the
 * driver — topic name, payload type and size against `capabilities.maxMessageBytes`.
 *
 * It checks the whole batch before anything is sent, so a rejected batch stores nothing. It is
 * on the publish hot path: it remembers topic names it has validated (up to a bound) and counts
 * header bytes exactly only near the limit.
 */
import { ConfigError, MessageTooLargeError } from './errors.js'
import type { OutgoingMessage } from './message.js'
import { validateTopic } from './topic.js'

/** Topic names remembered as valid; past this the cache is cleared and refilled. */
const knownTopicsBound = 10_000

/** Validates batches for one transport. */
export class MessageChecks {
  readonly #kind: string
  readonly #maxBytes: number
  readonly #known = new Set<string>()

  constructor(kind: string, maxMessageBytes: number | undefined) {
    this.#kind = kind
    this.#maxBytes = maxMessageBytes ?? Number.POSITIVE_INFINITY
  }

  /**
   * Throws `InvalidTopicError`, `ConfigError` (not bytes) or `MessageTooLargeError` for the first
   * bad message. Returns the batch's approximate size (payload bytes plus header and key
   * characters), which the publish batcher counts against `maxBatchBytes`.
   */
  check(messages: readonly OutgoingMessage[]): number {
    const maxBytes = this.#maxBytes
    const known = this.#known
    let checkedTopic: string | undefined
    // Messages of a batch often share one headers object (the Bus's defaults): count it once.
    let countedHeaders: Readonly<Record<string, string>> | undefined
    let headerChars = 0
    let total = 0
    for (let i = 0; i < messages.length; i++) {
      const message = messages[i] as OutgoingMessage
      const topic = message.topic
      if (topic !== checkedTopic) {
        if (!known.has(topic)) {
          validateTopic(topic)
          if (known.size >= knownTopicsBound) known.clear()
          known.add(topic)
        }
        checkedTopic = topic
      }
      const payloadBytes = (message.payload as Uint8Array | undefined)?.byteLength
      if (typeof payloadBytes !== 'number') {
        throw new ConfigError('message', ['payload must be a Uint8Array'], {
          context: { transport: this.#kind, topic, field: 'payload' },
        })
      }
      if (payloadBytes > maxBytes) throw this.#tooLarge(topic, payloadBytes)
      const headers = message.headers
      if (headers !== countedHeaders || headers === undefined) {
        headerChars = 0
        for (const name in headers) headerChars += name.length + (headers[name] as string).length
        countedHeaders = headers
      }
      // A UTF-16 code unit is at most 3 UTF-8 bytes: count exactly only near the limit.
      if (payloadBytes + headerChars * 3 > maxBytes) {
        const size = payloadBytes + headerBytes(headers)
        if (size > maxBytes) throw this.#tooLarge(topic, size)
      }
      total += payloadBytes + headerChars + (message.key?.length ?? 0)
    }
    return total
  }

  #tooLarge(topic: string, size: number): MessageTooLargeError {
    return new MessageTooLargeError(topic, size, this.#maxBytes, { context: { transport: this.#kind } })
  }
}

const encoder = new TextEncoder()

function headerBytes(headers: Readonly<Record<string, string>>): number {
  let bytes = 0
  for (const name in headers)
    bytes += encoder.encode(name).length + encoder.encode(headers[name] as string).length
  return bytes
}
