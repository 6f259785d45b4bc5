/**
 * Dead letters as data: recognising a message that already is a dead letter, and a typed view
 * (`DeadLetter`) of one for whoever reads a dead-letter topic.
 *
 * The headers read here are written by `deadLetterCopy` (`bus-runtime.ts`), named in
 * `headers.ts`. Pure functions; nothing here publishes or settles.
 */
import { asDecodeError, isPromiseLike } from './bus-checks.js'
import type { Codec } from './bus-options.js'
import type { DecodeError } from './errors.js'
import { SwitchyardHeaders } from './headers.js'
import type { Delivery, Message } from './message.js'

/**
 * True when `message` carries Switchyard's dead-letter reason headers (it was dead-lettered by a
 * Bus). The Bus never dead-letters such a message again: a failure on it becomes a `drop`.
 */
export function isDeadLetter(message: Pick<Message<unknown>, 'headers'>): boolean {
  return message.headers[SwitchyardHeaders.errorName] !== undefined
}

/**
 * A dead-lettered message, read from a dead-letter topic: why it was given up on, where from,
 * and its payload (raw bytes always; the decoded value when the codec accepts it).
 *
 * **When to use:** audit, alerting and replay tools over `<topic>.dlq`; get one from
 * `bus.deadLetters(...)` or `readDeadLetter(message, codec)`.
 *
 * **Details:** fields whose header is missing (a message not written by Switchyard) are
 * `undefined`. Exactly one of `value` / `decodeError` is set when a codec was given.
 */
export interface DeadLetter<T = unknown> {
  /** The dead-letter message itself (payload bytes, all headers). */
  readonly message: Message<Uint8Array>
  /** The topic the message was first published to. */
  readonly originalTopic: string | undefined
  /** The group whose handler gave up (absent for ephemeral subscriptions). */
  readonly originalGroup: string | undefined
  /** `name` of the last error (`DecodeError`, `TimeoutError`, `Error`, …). */
  readonly errorName: string | undefined
  /** Message of the last error (at most 1,000 characters). */
  readonly errorMessage: string | undefined
  /** Whether the last error was marked retryable. */
  readonly retryable: boolean
  /** Attempts made before giving up. */
  readonly attempts: number | undefined
  /** Time of the first failure (ms since the epoch). */
  readonly firstFailureAt: number | undefined
  /** Time it was dead-lettered (ms since the epoch). */
  readonly deadLetteredAt: number | undefined
  /** The payload bytes, exactly as they were published. */
  readonly raw: Uint8Array
  /** The decoded payload, when the codec accepted it. */
  readonly value: T | undefined
  /** Why the codec refused the payload, when it did. */
  readonly decodeError: DecodeError | undefined
}

/** A delivery from a dead-letter topic whose payload is its {@link DeadLetter} view; settle it yourself. */
export type DeadLetterDelivery<T = unknown> = Delivery<DeadLetter<T>>

function time(text: string | undefined): number | undefined {
  if (text === undefined) return undefined
  const ms = Date.parse(text)
  return Number.isNaN(ms) ? undefined : ms
}

function view<T>(
  message: Message<Uint8Array>,
  value: T | undefined,
  decodeError: DecodeError | undefined,
): DeadLetter<T> {
  const h = message.headers
  const attempts = h[SwitchyardHeaders.attempts]
  return {
    message,
    originalTopic: h[SwitchyardHeaders.originalTopic],
    originalGroup: h[SwitchyardHeaders.originalGroup],
    errorName: h[SwitchyardHeaders.errorName],
    errorMessage: h[SwitchyardHeaders.errorMessage],
    retryable: h[SwitchyardHeaders.errorRetryable] === 'true',
    attempts: attempts === undefined || !/^\d+$/.test(attempts) ? undefined : Number(attempts),
    firstFailureAt: time(h[SwitchyardHeaders.firstFailureAt]),
    deadLetteredAt: time(h[SwitchyardHeaders.deadLetteredAt]),
    raw: message.payload,
    value,
    decodeError,
  }
}

/**
 * Reads a dead-letter message into a {@link DeadLetter}. Never rejects for a bad payload: a codec
 * failure becomes `decodeError`. Without a codec, `value` and `decodeError` stay `undefined`.
 *
 * @example
 * const letter = await readDeadLetter(delivery.message, jsonCodec)
 * log.warn(`${letter.originalTopic}: ${letter.errorName}: ${letter.errorMessage}`)
 */
export function readDeadLetter<T>(
  message: Message<Uint8Array>,
  codec?: Codec<T>,
): DeadLetter<T> | Promise<DeadLetter<T>> {
  if (codec === undefined) return view<T>(message, undefined, undefined)
  let decoded: T | Promise<T>
  try {
    decoded = codec.decode(message.payload, message)
  } catch (thrown) {
    return view<T>(message, undefined, asDecodeError(thrown, message))
  }
  if (isPromiseLike<T>(decoded)) {
    return Promise.resolve(decoded).then(
      (value) => view(message, value, undefined),
      (thrown: unknown) => view<T>(message, undefined, asDecodeError(thrown, message)),
    )
  }
  return view(message, decoded, undefined)
}
