/**
 * `GroupQueue`: the messages one group (or one group-less subscription) has still to receive.
 *
 * It keeps per-key order with one rule: for each key at most one message is *eligible* (queued in
 * a priority level or in flight); later messages of that key wait in the key's own list and are
 * promoted when the eligible one is settled. Keyless messages need no bookkeeping. Priorities
 * 0-9 are separate levels served highest first, so a high-priority message overtakes lower ones
 * but never an earlier message of its own key. This module does not deliver: the broker takes
 * messages from here and hands them to the queue's consumers.
 */
import type { Message } from '@switchyard/core/spi'
import type { Consumer } from './consumer.js'
import { Deque } from './deque.js'

/** Highest priority level (`OutgoingMessage.priority` is 0-9). */
export const maxPriority = 9

/** A key's waiting list: message, priority, message, priority, … in publish order. */
type Waiting = Deque<Message | number>
/** Room for two waiting messages before a list grows. */
const waitingCapacity = 4

export class GroupQueue {
  /** Topic or pattern this queue is bound to. */
  readonly topic: string
  /** `undefined` for a group-less (ephemeral) subscription's private queue. */
  readonly group: string | undefined
  readonly consumers: Consumer[] = []
  /** Messages waiting for this queue: eligible plus held back behind their key. */
  depth = 0
  /** Messages waiting for a `nack({ delayMs })` timer. */
  delayed = 0
  /** Priority of the message last returned by {@link take}. */
  takenPriority = 0
  /** The broker is inside its dispatch loop for this queue (guards against re-entry). */
  dispatching = false
  /** A dispatch is scheduled for the next microtask. */
  scheduled = false
  /** The queue was dropped (its ephemeral subscription ended): late timers must not refill it. */
  removed = false

  /** Eligible messages by priority level; bit `p` of `#levels` is set while level `p` is non-empty. */
  readonly #levels: (Deque<Message> | undefined)[] = []
  #nonEmpty = 0
  /** Keys with an eligible message; the value lists later messages of the key (`null` or empty: none). */
  readonly #keys = new Map<string, Waiting | null>()
  #nextConsumer = 0

  constructor(topic: string, group: string | undefined) {
    this.topic = topic
    this.group = group
  }

  /** True when a message can be taken now. */
  get hasEligible(): boolean {
    return this.#nonEmpty !== 0
  }

  /** A newly published (or replayed) message: behind every earlier message of its key. */
  enqueue(message: Message, priority: number): void {
    this.depth++
    const key = message.key
    if (key === undefined) {
      this.#level(priority).push(message)
      return
    }
    const waiting = this.#keys.get(key)
    if (waiting === undefined) {
      this.#keys.set(key, null)
      this.#level(priority).push(message)
    } else if (waiting === null) {
      const list: Waiting = new Deque(waitingCapacity)
      list.push(message)
      list.push(priority)
      this.#keys.set(key, list)
    } else {
      waiting.push(message)
      waiting.push(priority)
    }
  }

  /**
   * An in-flight message comes back (nack with requeue, or its consumer left): it goes first in
   * its level and keeps its key's turn, so it stays ahead of later messages of the key.
   */
  requeue(message: Message, priority: number): void {
    this.depth++
    this.#level(priority).unshift(message)
  }

  /** A delayed message is due: ahead of later messages of its key that are not yet delivered. */
  restore(message: Message, priority: number): void {
    this.depth++
    const key = message.key
    if (key === undefined) {
      this.#level(priority).unshift(message)
      return
    }
    const waiting = this.#keys.get(key)
    if (waiting === undefined) {
      this.#keys.set(key, null)
      this.#level(priority).unshift(message)
    } else {
      const list: Waiting = waiting ?? new Deque(waitingCapacity)
      list.unshift(priority)
      list.unshift(message)
      if (waiting === null) this.#keys.set(key, list)
    }
  }

  /** The eligible message of `key` left for good (ack, drop or delay): the next one of the key becomes eligible. */
  release(key: string): void {
    const waiting = this.#keys.get(key)
    if (waiting === undefined) return
    // An emptied list stays until the key goes idle, so a key that keeps refilling reuses it.
    if (waiting === null || waiting.length === 0) {
      this.#keys.delete(key)
      return
    }
    const message = waiting.shift() as Message
    const priority = waiting.shift() as number
    this.#level(priority).push(message)
  }

  /** Removes and returns the first eligible message of the highest non-empty level. */
  take(): Message | undefined {
    const nonEmpty = this.#nonEmpty
    if (nonEmpty === 0) return undefined
    const priority = 31 - Math.clz32(nonEmpty)
    const level = this.#levels[priority] as Deque<Message>
    const message = level.shift() as Message
    if (level.length === 0) this.#nonEmpty = nonEmpty & ~(1 << priority)
    this.takenPriority = priority
    this.depth--
    return message
  }

  /** The next consumer (round robin) that is not paused and has room under its limit, if any. */
  pickConsumer(): Consumer | undefined {
    const consumers = this.consumers
    const count = consumers.length
    if (count === 1) {
      const only = consumers[0] as Consumer
      return only.hasRoom ? only : undefined
    }
    for (let i = 0; i < count; i++) {
      const index = (this.#nextConsumer + i) % count
      const consumer = consumers[index] as Consumer
      if (consumer.hasRoom) {
        this.#nextConsumer = (index + 1) % count
        return consumer
      }
    }
    return undefined
  }

  /** Drops everything held (the queue is being discarded). */
  clear(): void {
    this.#levels.length = 0
    this.#nonEmpty = 0
    this.#keys.clear()
    this.depth = 0
  }

  #level(priority: number): Deque<Message> {
    let level = this.#levels[priority]
    if (level === undefined) {
      level = new Deque()
      this.#levels[priority] = level
    }
    this.#nonEmpty |= 1 << priority
    return level
  }
}
