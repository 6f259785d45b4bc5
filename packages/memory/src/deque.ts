/**
 * `Deque`: a growable ring buffer with O(1) `push`, `shift` and `unshift`.
 *
 * The in-memory transport keeps every group queue and every per-key waiting list in one, because
 * `Array.prototype.shift` copies the array and turns a deep queue quadratic. It is internal to
 * this package: no iteration protocol, no bounds beyond memory; the transport decides what goes in.
 */

const defaultCapacity = 16
/** A drained deque bigger than this gives its buffer back, so one burst does not pin memory. */
const shrinkAbove = 4096

export class Deque<T> {
  #buffer: (T | undefined)[]
  #mask: number
  #head = 0
  #size = 0
  readonly #initialCapacity: number

  /** `capacity` must be a power of two; the deque grows past it as needed. */
  constructor(capacity = defaultCapacity) {
    this.#initialCapacity = capacity
    this.#buffer = new Array<T | undefined>(capacity)
    this.#mask = capacity - 1
  }

  /** Number of items held. */
  get length(): number {
    return this.#size
  }

  /** Adds at the back. */
  push(value: T): void {
    if (this.#size > this.#mask) this.#grow()
    this.#buffer[(this.#head + this.#size) & this.#mask] = value
    this.#size++
  }

  /** Adds at the front. */
  unshift(value: T): void {
    if (this.#size > this.#mask) this.#grow()
    this.#head = (this.#head - 1) & this.#mask
    this.#buffer[this.#head] = value
    this.#size++
  }

  /** Removes and returns the front item, or `undefined` when empty. */
  shift(): T | undefined {
    if (this.#size === 0) return undefined
    const head = this.#head
    const value = this.#buffer[head]
    this.#buffer[head] = undefined
    this.#head = (head + 1) & this.#mask
    this.#size--
    if (this.#size === 0 && this.#mask >= shrinkAbove) this.clear()
    return value
  }

  /** Drops every item and releases a large buffer. */
  clear(): void {
    this.#buffer = new Array<T | undefined>(this.#initialCapacity)
    this.#mask = this.#initialCapacity - 1
    this.#head = 0
    this.#size = 0
  }

  #grow(): void {
    const old = this.#buffer
    const capacity = old.length
    const next = new Array<T | undefined>(capacity * 2)
    for (let i = 0; i < capacity; i++) next[i] = old[(this.#head + i) & this.#mask]
    this.#buffer = next
    this.#mask = capacity * 2 - 1
    this.#head = 0
  }
}
