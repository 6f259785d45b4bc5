/**
 * `MemoryBroker`: the engine behind `MemoryTransport` — topics, group queues, routing, dispatch,
 * settlement, delayed redelivery and drain.
 *
 * It assumes its caller has validated names and options (the transport does that) except for what
 * must be checked per message on the hot path (topic names, sizes). It never awaits: publishing
 * enqueues synchronously and dispatch runs in a loop, started from a microtask after a publish or
 * directly after a settlement, and never re-enters itself for one queue, so a consumer that acks
 * inside `next` cannot grow the stack. It knows nothing about `status$` or the SPI's promises.
 */
import {
  createDelivery,
  type Delivery,
  type Message,
  type OutgoingMessage,
  topicMatches,
  validateTopic,
} from '@switchyard/core/spi'
import type { Subscriber } from 'rxjs'
import { Consumer, InFlight, type SettlementTarget } from './consumer.js'
import { invalidMessageError, tooLargeError } from './errors.js'
import { GroupQueue, maxPriority } from './group-queue.js'
import { RetainedLog } from './retained-log.js'

interface TopicState {
  readonly log: RetainedLog
  /** Queues whose topic or pattern matches this topic; recomputed after queues change. */
  routes: GroupQueue[] | undefined
}

/** Limits the broker enforces. */
export interface BrokerLimits {
  readonly retention: number
  readonly maxMessageBytes: number
}

export class MemoryBroker implements SettlementTarget {
  /** Set when the transport is closed: settling rejects, timers are cancelled. */
  closed = false
  /** Set while closing: no new deliveries start. */
  closing = false
  /** Unsettled deliveries over every consumer. */
  inFlight = 0

  readonly #limits: BrokerLimits
  readonly #topics = new Map<string, TopicState>()
  /** Group queues by `topic-or-pattern \n group`. */
  readonly #groups = new Map<string, GroupQueue>()
  /** Private queues of group-less subscriptions. */
  readonly #ephemeral = new Set<GroupQueue>()
  readonly #timers = new Set<ReturnType<typeof setTimeout>>()
  #pending: GroupQueue[] = []
  #flushQueued = false
  #onDrained: (() => void) | undefined

  constructor(limits: BrokerLimits) {
    this.#limits = limits
  }

  /**
   * Checks every message first (topic name, size), then stores and routes them all, so a
   * rejected batch leaves nothing behind. Throws `InvalidTopicError` or `MessageTooLargeError`.
   */
  publish(messages: readonly OutgoingMessage[]): void {
    const count = messages.length
    const maxBytes = this.#limits.maxMessageBytes
    let checkedTopic: string | undefined
    // Messages of a batch often share one headers object (the Bus's defaults): count it once.
    let countedHeaders: Readonly<Record<string, string>> | undefined
    let headerChars = 0
    for (let i = 0; i < count; i++) {
      const message = messages[i] as OutgoingMessage
      const topic = message.topic
      if (topic !== checkedTopic) {
        if (!this.#topics.has(topic)) validateTopic(topic)
        checkedTopic = topic
      }
      const payloadBytes = message.payload?.byteLength
      if (typeof payloadBytes !== 'number') throw invalidMessageError(topic, 'payload must be a Uint8Array')
      if (payloadBytes > maxBytes) throw tooLargeError(topic, payloadBytes, maxBytes)
      const headers = message.headers
      if (headers !== countedHeaders || headers === undefined) {
        headerChars = 0
        for (const name in headers) headerChars += name.length + (headers[name] as string).length
        countedHeaders = headers
      }
      // A UTF-16 code unit is at most 3 UTF-8 bytes: count exactly only near the limit.
      if (payloadBytes + headerChars * 3 > maxBytes) {
        const size = payloadBytes + headerBytes(headers)
        if (size > maxBytes) throw tooLargeError(topic, size, maxBytes)
      }
    }

    let topicName: string | undefined
    let state: TopicState | undefined
    for (let i = 0; i < count; i++) {
      const outgoing = messages[i] as OutgoingMessage
      if (outgoing.topic !== topicName) {
        topicName = outgoing.topic
        state = this.#topic(topicName)
      }
      const topicState = state as TopicState
      const message: Message = {
        id: outgoing.id,
        topic: outgoing.topic,
        key: outgoing.key,
        headers: outgoing.headers,
        payload: outgoing.payload,
        timestamp: outgoing.timestamp,
        attempt: 1,
      }
      const priority = outgoing.priority === undefined ? 0 : clampPriority(outgoing.priority)
      topicState.log.append(message, priority)
      const routes = topicState.routes ?? this.#route(topicName, topicState)
      for (let r = 0; r < routes.length; r++) {
        const queue = routes[r] as GroupQueue
        queue.enqueue(message, priority)
        if (!queue.scheduled && queue.consumers.length > 0) this.#schedule(queue)
      }
    }
  }

  /** Creates the topic (when concrete) and the group queues, if missing. */
  provision(topic: string, groups: readonly string[]): void {
    if (!topic.includes('*') && !topic.includes('#')) this.#topic(topic)
    for (const group of groups) this.#groupQueue(topic, group, false)
  }

  /** Drops the topic's retained messages and every idle group queue of it (or of a listed group). */
  deprovision(topic: string, groups: readonly string[]): void {
    this.#topics.delete(topic)
    const listed = new Set(groups)
    for (const [id, queue] of this.#groups) {
      if (queue.topic !== topic || queue.consumers.length > 0) continue
      if (listed.size > 0 && !listed.has(queue.group as string)) continue
      queue.removed = true
      queue.clear()
      this.#groups.delete(id)
    }
    this.#invalidateRoutes()
  }

  /** Attaches a consumer to the group's queue (created if missing) or to a new private queue. */
  attach(
    topic: string,
    group: string | undefined,
    limit: number,
    fromBeginning: boolean,
    subscriber: Subscriber<Delivery>,
  ): Consumer {
    let queue: GroupQueue
    if (group === undefined) {
      queue = new GroupQueue(topic, undefined)
      if (fromBeginning) this.#replay(queue)
      this.#ephemeral.add(queue)
      this.#invalidateRoutes()
    } else {
      queue = this.#groupQueue(topic, group, fromBeginning)
    }
    const consumer = new Consumer(queue, subscriber, limit)
    queue.consumers.push(consumer)
    this.#schedule(queue)
    return consumer
  }

  /**
   * Detaches a consumer: its unsettled deliveries go back to the front of the queue with their
   * attempt unchanged. A private queue is discarded with whatever it still holds.
   */
  detach(consumer: Consumer): void {
    if (consumer.detached) return
    consumer.detached = true
    const queue = consumer.queue
    const index = queue.consumers.indexOf(consumer)
    if (index >= 0) queue.consumers.splice(index, 1)
    const records = consumer.takeAll()
    this.inFlight -= records.length
    if (queue.group === undefined) {
      queue.removed = true
      queue.clear()
      this.#ephemeral.delete(queue)
      this.#invalidateRoutes()
    } else {
      for (const record of records) queue.requeue(record.message, record.priority)
      if (queue.consumers.length > 0) this.#schedule(queue)
    }
    this.#checkDrained()
  }

  /** Called by `InFlight` once per delivery, unless the transport is closed or the consumer detached. */
  settle(record: InFlight, requeue: boolean, delayMs: number | undefined, acked: boolean): void {
    const consumer = record.consumer
    consumer.remove(record)
    this.inFlight--
    const queue = consumer.queue
    const message = record.message
    if (acked || !requeue) {
      if (message.key !== undefined) queue.release(message.key)
    } else if (delayMs === undefined) {
      queue.requeue(redelivery(message), record.priority)
    } else {
      if (message.key !== undefined) queue.release(message.key)
      this.#delay(queue, redelivery(message), record.priority, delayMs)
    }
    if (this.closing) this.#checkDrained()
    else this.#dispatch(queue)
  }

  /** Stops starting deliveries; resolves once nothing is in flight or after `timeoutMs`. */
  drain(timeoutMs: number): Promise<void> {
    this.closing = true
    if (this.inFlight === 0) return Promise.resolve()
    return new Promise<void>((resolve) => {
      const timer = setTimeout(finish, timeoutMs)
      function finish(): void {
        clearTimeout(timer)
        resolve()
      }
      this.#onDrained = finish
    })
  }

  /** Closes for good: cancels timers and forgets every message. */
  shutdown(): void {
    this.closing = true
    this.closed = true
    this.#onDrained = undefined
    for (const timer of this.#timers) clearTimeout(timer)
    this.#timers.clear()
    this.#pending = []
  }

  /** Counts for `health().details`. */
  stats(): { topics: number; groups: number; retainedMessages: number; delayedTimers: number } {
    let retainedMessages = 0
    for (const state of this.#topics.values()) retainedMessages += state.log.size
    return {
      topics: this.#topics.size,
      groups: this.#groups.size,
      retainedMessages,
      delayedTimers: this.#timers.size,
    }
  }

  #topic(name: string): TopicState {
    let state = this.#topics.get(name)
    if (state === undefined) {
      state = { log: new RetainedLog(this.#limits.retention), routes: undefined }
      this.#topics.set(name, state)
    }
    return state
  }

  #groupQueue(topic: string, group: string, fromBeginning: boolean): GroupQueue {
    const id = `${topic}\n${group}`
    let queue = this.#groups.get(id)
    if (queue === undefined) {
      queue = new GroupQueue(topic, group)
      if (fromBeginning) this.#replay(queue)
      this.#groups.set(id, queue)
      this.#invalidateRoutes()
    }
    return queue
  }

  /** Seeds a new queue with the retained messages of every topic it matches. */
  #replay(queue: GroupQueue): void {
    for (const [name, state] of this.#topics) {
      if (topicMatches(queue.topic, name))
        state.log.forEach((message, priority) => {
          queue.enqueue(message, priority)
        })
    }
  }

  #route(name: string, state: TopicState): GroupQueue[] {
    const routes: GroupQueue[] = []
    for (const queue of this.#groups.values()) if (topicMatches(queue.topic, name)) routes.push(queue)
    for (const queue of this.#ephemeral) if (topicMatches(queue.topic, name)) routes.push(queue)
    state.routes = routes
    return routes
  }

  #invalidateRoutes(): void {
    for (const state of this.#topics.values()) state.routes = undefined
  }

  #delay(queue: GroupQueue, message: Message, priority: number, delayMs: number): void {
    queue.delayed++
    const due = Date.now() + delayMs
    const arm = (waitMs: number): void => {
      const timer = setTimeout(() => {
        this.#timers.delete(timer)
        // Timers may fire up to a millisecond early against the wall clock: never deliver early.
        const left = due - Date.now()
        if (left > 0) return arm(left)
        queue.delayed--
        if (this.closed || queue.removed) return
        queue.restore(message, priority)
        this.#dispatch(queue)
      }, waitMs)
      this.#timers.add(timer)
    }
    arm(delayMs)
  }

  #schedule(queue: GroupQueue): void {
    if (queue.scheduled) return
    queue.scheduled = true
    this.#pending.push(queue)
    if (!this.#flushQueued) {
      this.#flushQueued = true
      queueMicrotask(this.#flush)
    }
  }

  readonly #flush = (): void => {
    this.#flushQueued = false
    const pending = this.#pending
    this.#pending = []
    // Unmark all first: should one dispatch throw, the others can still be scheduled again.
    for (const queue of pending) queue.scheduled = false
    for (const queue of pending) this.#dispatch(queue)
  }

  /** Hands eligible messages to consumers with room, until either runs out. Never re-entered per queue. */
  #dispatch(queue: GroupQueue): void {
    if (queue.dispatching || this.closing) return
    queue.dispatching = true
    try {
      while (queue.hasEligible && !this.closing) {
        const consumer = queue.pickConsumer()
        if (consumer === undefined) break
        const message = queue.take() as Message
        const record = new InFlight(this, consumer, message, queue.takenPriority)
        consumer.add(record)
        this.inFlight++
        consumer.subscriber.next(createDelivery(message, record))
      }
    } finally {
      queue.dispatching = false
    }
  }

  #checkDrained(): void {
    if (this.inFlight === 0 && this.#onDrained !== undefined) {
      const drained = this.#onDrained
      this.#onDrained = undefined
      drained()
    }
  }
}

/** The same message, one attempt later. */
function redelivery(message: Message): Message {
  return {
    id: message.id,
    topic: message.topic,
    key: message.key,
    headers: message.headers,
    payload: message.payload,
    timestamp: message.timestamp,
    attempt: message.attempt + 1,
  }
}

/** Out-of-range priorities are clamped to 0-9, as RabbitMQ does with `x-max-priority`. */
function clampPriority(priority: number): number {
  if (!(priority > 0)) return 0
  return priority >= maxPriority ? maxPriority : Math.floor(priority)
}

function headerBytes(headers: Readonly<Record<string, string>>): number {
  let bytes = 0
  for (const name in headers)
    bytes += Buffer.byteLength(name, 'utf8') + Buffer.byteLength(headers[name] as string, 'utf8')
  return bytes
}
