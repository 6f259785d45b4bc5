/**
 * `RetainedLog`: the bounded per-topic history behind `fromBeginning` (the `replay` capability).
 *
 * A ring of the last `capacity` messages published to one topic, with their priorities. It only
 * serves a group created with `fromBeginning`; it is not a durable log and never redelivers.
 */
import type { Message } from '@switchyard/core/spi'

export class RetainedLog {
  readonly #capacity: number
  readonly #items: Message[] = []
  /** Priorities by slot, allocated on the first message with a priority above 0. */
  #priorities: Uint8Array | undefined
  /** Slot of the oldest message once the ring is full. */
  #start = 0

  constructor(capacity: number) {
    this.#capacity = capacity
  }

  /** Messages held now. */
  get size(): number {
    return this.#items.length
  }

  /** Records a published message, evicting the oldest when full. */
  append(message: Message, priority: number): void {
    const capacity = this.#capacity
    if (capacity === 0) return
    let slot: number
    if (this.#items.length < capacity) {
      slot = this.#items.length
      this.#items.push(message)
    } else {
      slot = this.#start
      this.#items[slot] = message
      this.#start = slot + 1 === capacity ? 0 : slot + 1
    }
    if (priority > 0 || this.#priorities !== undefined) {
      this.#priorities ??= new Uint8Array(capacity)
      this.#priorities[slot] = priority
    }
  }

  /** Calls `visit` for each retained message, oldest first. */
  forEach(visit: (message: Message, priority: number) => void): void {
    const items = this.#items
    const count = items.length
    for (let i = 0; i < count; i++) {
      const slot = (this.#start + i) % count
      visit(items[slot] as Message, this.#priorities?.[slot] ?? 0)
    }
  }
}
