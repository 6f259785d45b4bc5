/**
 * `KeyedExecutor`: runs work items with a concurrency bound and per-key serial order.
 *
 * At most `concurrency` items run at once; two items with the same key never run at once and
 * start in arrival order; items without a key run as slots allow. Every operation is O(1)
 * (amortised) and allocates nothing per item beyond queue slots, so it sits on the hot path of
 * `Bus.handle`. It does not run anything itself: it calls `start(item)`, and the caller reports
 * the end with `release(item)`. It knows nothing about messages, retries or timers.
 */

/** A FIFO ring buffer: O(1) push and shift, grows by doubling, never shrinks. Internal to core. */
export class Fifo<T> {
  #items: (T | undefined)[] = new Array(16)
  #mask = 15
  #head = 0
  #size = 0

  get size(): number {
    return this.#size
  }

  push(item: T): void {
    if (this.#size === this.#items.length) this.#grow()
    this.#items[(this.#head + this.#size) & this.#mask] = item
    this.#size++
  }

  shift(): T | undefined {
    if (this.#size === 0) return undefined
    const item = this.#items[this.#head]
    this.#items[this.#head] = undefined
    this.#head = (this.#head + 1) & this.#mask
    this.#size--
    return item
  }

  drain(): T[] {
    const rest: T[] = []
    for (let item = this.shift(); item !== undefined; item = this.shift()) rest.push(item)
    return rest
  }

  #grow(): void {
    const items: (T | undefined)[] = new Array(this.#items.length * 2)
    for (let i = 0; i < this.#size; i++) items[i] = this.#items[(this.#head + i) & this.#mask]
    this.#items = items
    this.#mask = items.length - 1
    this.#head = 0
  }
}

/**
 * Runs items at most `concurrency` at a time, serially per key.
 *
 * **Details:** a key is *busy* from the moment an item with that key arrives until the last
 * queued item with that key has been released. Later items of a busy key wait in that key's own
 * queue; when the running one is released, the next one joins the back of the shared ready queue,
 * so one hot key cannot starve the others.
 *
 * @example
 * const executor = new KeyedExecutor<Job>(8, (job) => job.key, (job) => run(job).finally(() => executor.release(job)))
 * executor.push(job)
 */
export class KeyedExecutor<T> {
  readonly concurrency: number
  readonly #keyOf: (item: T) => string | undefined
  readonly #start: (item: T) => void
  /** Items whose turn has come (head of their key), waiting for a slot. */
  readonly #ready = new Fifo<T>()
  /** Busy keys → items of that key waiting behind the running/ready one (null: none waiting). */
  readonly #keys = new Map<string, Fifo<T> | null>()
  #running = 0
  #pending = 0
  #pumping = false

  constructor(concurrency: number, keyOf: (item: T) => string | undefined, start: (item: T) => void) {
    this.concurrency = concurrency
    this.#keyOf = keyOf
    this.#start = start
  }

  /** Items running now. */
  get running(): number {
    return this.#running
  }

  /** Items accepted but not started yet. */
  get pending(): number {
    return this.#pending
  }

  /** Accepts an item: starts it now if a slot is free and its key is idle, else queues it. */
  push(item: T): void {
    const key = this.#keyOf(item)
    this.#pending++
    if (key !== undefined) {
      const waiting = this.#keys.get(key)
      if (waiting !== undefined) {
        if (waiting === null) {
          const queue = new Fifo<T>()
          queue.push(item)
          this.#keys.set(key, queue)
        } else {
          waiting.push(item)
        }
        return
      }
      this.#keys.set(key, null)
    }
    if (this.#pumping || this.#ready.size > 0 || this.#running >= this.concurrency) {
      this.#ready.push(item)
      this.#pump()
      return
    }
    // Fast path: a free slot and nobody waiting ahead.
    this.#pending--
    this.#running++
    this.#pumping = true
    try {
      this.#start(item)
    } finally {
      this.#pumping = false
    }
    if (this.#ready.size > 0) this.#pump()
  }

  /** Reports that a started item finished; starts what may run next. Call exactly once per started item. */
  release(item: T): void {
    this.#running--
    const key = this.#keyOf(item)
    if (key !== undefined) {
      const waiting = this.#keys.get(key)
      const next = waiting?.shift()
      if (next === undefined) {
        this.#keys.delete(key)
      } else {
        if (waiting?.size === 0) this.#keys.set(key, null)
        this.#ready.push(next)
      }
    }
    // Nothing ready: nothing can start (the common case; skips the pump's bookkeeping).
    if (this.#ready.size > 0) this.#pump()
  }

  /**
   * Starts ready items while slots are free. Not re-entrant: a `release` or `push` made from
   * inside `start` (a synchronous handler) returns at once and this loop picks up the work, so
   * the stack never grows with the queue.
   */
  #pump(): void {
    if (this.#pumping) return
    this.#pumping = true
    try {
      while (this.#running < this.concurrency) {
        const next = this.#ready.shift()
        if (next === undefined) return
        this.#pending--
        this.#running++
        this.#start(next)
      }
    } finally {
      this.#pumping = false
    }
  }

  /**
   * Removes and returns every item not started yet (ready ones first, then per-key followers),
   * e.g. to give them back to the broker on stop. Running items are unaffected.
   */
  takePending(): T[] {
    const taken: T[] = []
    // A ready item heads its key (nothing of that key runs): the key becomes idle.
    for (const item of this.#ready.drain()) {
      taken.push(item)
      const key = this.#keyOf(item)
      if (key === undefined) continue
      const waiting = this.#keys.get(key)
      if (waiting) taken.push(...waiting.drain())
      this.#keys.delete(key)
    }
    // Remaining busy keys have a running item: keep the key busy, drop its followers.
    for (const [key, waiting] of this.#keys) {
      if (waiting !== null) {
        taken.push(...waiting.drain())
        this.#keys.set(key, null)
      }
    }
    this.#pending = 0
    return taken
  }
}
