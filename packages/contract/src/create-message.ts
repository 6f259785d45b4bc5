/**
 * `createMessage`: build `OutgoingMessage`s for the raw Transport SPI in tests.
 *
 * The `Bus` normally fills `id`, `timestamp` and headers; tests that talk to a transport directly
 * use this instead. It is a test helper, not a codec: payloads are bytes or UTF-8 text.
 */
import { randomUUID } from 'node:crypto'
import type { OutgoingMessage } from '@switchyard/core'

/** Fields of a test message; everything but the topic is optional. */
export interface MessageInit {
  /** Bytes as given, or a string encoded as UTF-8 (default: the id as text). */
  readonly payload?: Uint8Array | string
  readonly key?: string
  readonly headers?: Readonly<Record<string, string>>
  /** Default: a random UUID. */
  readonly id?: string
  /** Default: `Date.now()`. */
  readonly timestamp?: number
  readonly priority?: number
}

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

/**
 * An `OutgoingMessage` for `topic` with a fresh id and the current time.
 *
 * @example
 * await transport.publish([createMessage(topic, { key: 'k1', payload: 'hello' })])
 */
export function createMessage(topic: string, init: MessageInit = {}): OutgoingMessage {
  const id = init.id ?? randomUUID()
  const payload = init.payload ?? id
  return {
    topic,
    id,
    timestamp: init.timestamp ?? Date.now(),
    headers: init.headers ?? {},
    payload: typeof payload === 'string' ? encoder.encode(payload) : payload,
    ...(init.key === undefined ? {} : { key: init.key }),
    ...(init.priority === undefined ? {} : { priority: init.priority }),
  }
}

/** Decodes a UTF-8 payload (throws on invalid UTF-8). */
export function payloadText(payload: Uint8Array): string {
  return decoder.decode(payload)
}
