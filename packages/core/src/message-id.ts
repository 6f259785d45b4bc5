/**
 * `nextMessageId`: the ids the `Bus` gives messages published without an explicit `id`.
 *
 * An id is an RFC 9562 UUID, version 8 (the "custom" layout), built from a random part drawn
 * once per process (74 bits from `crypto.getRandomValues`) and a 48-bit counter:
 *
 * ```text
 * rrrrrrrr-rrrr-8rrr-Vrrr-cccccccccccc   (lower-case hex)
 * r: random bits, fixed for the process   8: the version   V: 8, 9, a or b (variant + 2 random bits)
 * c: the counter, 0 upwards, 12 hex digits
 * ```
 *
 * Ids are unique across processes and restarts because each process (and each worker thread)
 * draws its own random part when it first needs one; two processes share it with a probability of
 * about n² / 2⁷⁵ for n processes. Within one process ids never repeat and sort in the order they
 * were made; after 2⁴⁸ ids a new random part is drawn. Making one costs a string concatenation,
 * several times cheaper than `crypto.randomUUID()`, which mattered on the publish hot path.
 * Ids are identifiers, not secrets: they are predictable from one another, so never use them as
 * tokens. This module knows nothing about messages beyond the id.
 */

/** The counter's low part: 24 bits, written as two lookups of three hex digits. */
const lowLimit = 2 ** 24
/** The counter's high part, kept in the cached prefix: 24 bits (48 in all). */
const highLimit = 2 ** 24

const hex3: readonly string[] = Array.from({ length: 4096 }, (_, i) => i.toString(16).padStart(3, '0'))

/** Draws a random part: `rrrrrrrr-rrrr-8rrr-Vrrr-` (74 random bits). */
function drawRandomPart(): string {
  const bytes = new Uint8Array(10)
  globalThis.crypto.getRandomValues(bytes)
  let hex = ''
  for (const byte of bytes) hex += byte.toString(16).padStart(2, '0')
  // 80 random bits; keep 48 + 12 + 14 of them around the version and variant digits.
  const variant = (0x8 | (Number.parseInt(hex.charAt(15), 16) & 0x3)).toString(16)
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(12, 15)}-${variant}${hex.slice(16, 19)}-`
}

/**
 * A source of message ids: one random part and a counter. Internal to core; the `Bus` uses one
 * shared source through {@link nextMessageId}.
 */
export class MessageIdSource {
  #random: string | undefined
  #high: number
  #low: number
  /** The random part plus the counter's high six hex digits. */
  #prefix = ''

  /** `start`: the first counter value (tests use it to reach a wrap-around quickly). */
  constructor(start = 0) {
    this.#high = Math.floor(start / lowLimit)
    this.#low = start % lowLimit
  }

  /** The next id; the random part is drawn on first use, not at import (safe in startup snapshots). */
  next(): string {
    if (this.#random === undefined) this.#renew()
    const low = this.#low
    const id = this.#prefix + (hex3[low >>> 12] as string) + (hex3[low & 0xfff] as string)
    if (low + 1 === lowLimit) {
      this.#low = 0
      this.#high++
      this.#renew()
    } else {
      this.#low = low + 1
    }
    return id
  }

  #renew(): void {
    if (this.#random === undefined || this.#high >= highLimit) {
      this.#random = drawRandomPart()
      if (this.#high >= highLimit) this.#high = 0
    }
    this.#prefix = this.#random + this.#high.toString(16).padStart(6, '0')
  }
}

const shared = new MessageIdSource()

/**
 * A new message id, unique across processes (see the module doc for the format).
 *
 * @example
 * nextMessageId() // '3f9c2a71-5be0-8d4e-a3c1-000000000000', then '…-000000000001', …
 */
export function nextMessageId(): string {
  return shared.next()
}

/** Every id from {@link nextMessageId} matches this. */
export const messageIdPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
