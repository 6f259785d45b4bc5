/**
 * `PartitionFlow`: the bookkeeping of one assigned partition of one subscription — pure logic,
 * no kafkajs, no timers, no I/O (the subscription drives it and unit tests cover it alone).
 *
 * It answers three questions:
 * - What may be delivered now? Records wait in a ready queue; a record whose key already has an
 *   unsettled record in this partition is held back until that one is settled, so one key is
 *   never processed twice at once and keeps publish order (key → partition makes this per key).
 * - What may be committed? The commit point is the lowest offset not yet settled, or the offset
 *   after the last record received when all are settled: never past an unsettled record, however
 *   out of order acknowledgements arrive.
 * - What was already received? After a rebalance that keeps this partition, kafkajs fetches again
 *   from the committed offset; records below `next` are duplicates and are skipped.
 */

/** One received record and its state in the flow. */
export interface FlowEntry<R> {
  readonly offset: number
  readonly key: string | undefined
  readonly record: R
  /** Delivery attempt, 1 on first delivery, +1 per local redelivery. */
  attempt: number
  /** Acked or dropped: no longer holds the commit point back. */
  settled: boolean
}

export class PartitionFlow<R> {
  /**
   * Entries in offset order from the oldest unsettled one (`#head`). Slots before the head are
   * cleared as soon as the head moves past them (on settle), so a settled record — and the kafkajs
   * record it holds — becomes garbage while it is young, instead of surviving until the next commit.
   */
  #log: (FlowEntry<R> | undefined)[] = []
  #head = 0
  #ready: FlowEntry<R>[] = []
  #readyHead = 0
  #held = new Map<string, FlowEntry<R>[]>()
  #activeKeys = new Set<string>()
  #next: number | undefined
  #heldCount = 0
  #inFlight = 0

  /** Records taken for delivery and not yet settled or requeued. */
  get inFlight(): number {
    return this.#inFlight
  }

  /** Records waiting for the in-flight limit. */
  get readyCount(): number {
    return this.#ready.length - this.#readyHead
  }

  /** Records held back behind an unsettled record of the same key. */
  get heldCount(): number {
    return this.#heldCount
  }

  /** Offset after the last received record, if any was received. */
  get next(): number | undefined {
    return this.#next
  }

  /**
   * Adds a fetched record. Returns undefined (and ignores it) when the offset was already received,
   * as happens when kafkajs re-fetches a partition this subscription kept across a rebalance.
   */
  receive(offset: number, key: string | undefined, record: R): FlowEntry<R> | undefined {
    if (this.#next !== undefined && offset < this.#next) return undefined
    this.#next = offset + 1
    const entry: FlowEntry<R> = { offset, key, record, attempt: 1, settled: false }
    this.#log.push(entry)
    this.#enqueue(entry)
    return entry
  }

  /** The next record to deliver, if one is ready; the caller delivers it. */
  take(): FlowEntry<R> | undefined {
    if (this.#readyHead >= this.#ready.length) return undefined
    const entry = this.#ready[this.#readyHead]
    this.#ready[this.#readyHead] = undefined as unknown as FlowEntry<R>
    this.#readyHead++
    if (this.#readyHead > 1024 && this.#readyHead * 2 > this.#ready.length) {
      this.#ready = this.#ready.slice(this.#readyHead)
      this.#readyHead = 0
    }
    this.#inFlight++
    return entry
  }

  /**
   * Ack or drop: the record no longer holds the commit point, and its key is free for the next one.
   * True when that made a held-back record of its key ready (the caller should deliver it).
   */
  settle(entry: FlowEntry<R>): boolean {
    if (entry.settled) return false
    entry.settled = true
    this.#inFlight--
    const freed = this.#release(entry.key)
    if (this.#log[this.#head] === entry) this.#advance()
    return freed
  }

  /** Redeliver now: back into the ready queue with attempt + 1; its key stays taken, so order holds. */
  requeue(entry: FlowEntry<R>): void {
    this.#inFlight--
    entry.attempt++
    this.#ready.push(entry)
  }

  /**
   * The offset to commit: the lowest unsettled offset, or the offset after the last received record
   * when everything received is settled; undefined before anything was received.
   */
  commitPoint(): number | undefined {
    const first = this.#log[this.#head]
    return first === undefined ? this.#next : first.offset
  }

  /** Moves the head past settled entries, clearing their slots; compacts the log now and then. */
  #advance(): void {
    const log = this.#log
    let head = this.#head
    for (let entry = log[head]; entry?.settled === true; entry = log[head]) log[head++] = undefined
    if (head === log.length) {
      log.length = 0
      head = 0
    } else if (head > 1024 && head * 2 > log.length) {
      this.#log = log.slice(head)
      head = 0
    }
    this.#head = head
  }

  #enqueue(entry: FlowEntry<R>): void {
    const key = entry.key
    if (key === undefined) {
      this.#ready.push(entry)
      return
    }
    if (!this.#activeKeys.has(key)) {
      this.#activeKeys.add(key)
      this.#ready.push(entry)
      return
    }
    const queue = this.#held.get(key)
    if (queue === undefined) this.#held.set(key, [entry])
    else queue.push(entry)
    this.#heldCount++
  }

  #release(key: string | undefined): boolean {
    if (key === undefined) return false
    const queue = this.#held.get(key)
    const next = queue?.shift()
    if (next === undefined) {
      this.#activeKeys.delete(key)
      return false
    }
    if (queue?.length === 0) this.#held.delete(key)
    this.#heldCount--
    this.#ready.push(next)
    return true
  }
}
