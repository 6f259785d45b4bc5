/**
 * `MemoryBroker`: the broker the memory driver maps onto: topics, group queues, routing,
 * dispatch, settlement and broker-held delayed redelivery.
 *
 * It models a broker, not a transport: the derived transport in core has already validated every
 * name, option and message size, counts in-flight deliveries per subscription, drains and reports
 * status. It never awaits: publishing enqueues synchronously and dispatch runs in a loop, started
 * from a microtask after a publish or directly after a settlement or a resume, and never
 * re-enters itself for one queue, so a consumer that acks inside `deliver` cannot grow the stack.
 * Delays run on the scheduler it is given, so tests can use virtual time.
 */
import type {
  DeliverySink,
  GroupInfo,
  Inspection,
  Message,
  OutgoingMessage,
  TopicInfo,
} from '@switchyard/core/spi'
import { topicMatches } from '@switchyard/core/spi'
import type { SchedulerLike, Subscription } from 'rxjs'
import { Consumer, InFlight, type SettlementTarget } from './consumer.js'
import { GroupQueue, maxPriority } from './group-queue.js'
import { RetainedLog } from './retained-log.js'

interface TopicState {
  readonly log: RetainedLog
  /** Queues whose topic or pattern matches this topic; recomputed after queues change. */
  routes: GroupQueue[] | undefined
}

/** One in-memory broker: every `MemoryDriver` (and so every `MemoryTransport`) has its own. */
export class MemoryBroker implements SettlementTarget {
  /** Set by `shutdown`: nothing is delivered any more and timers are cancelled. */
  closed = false
  /** Unsettled deliveries over every consumer. */
  inFlight = 0

  readonly #retention: number
  readonly #scheduler: SchedulerLike
  readonly #topics = new Map<string, TopicState>()
  /** Group queues by `topic-or-pattern \n group`. */
  readonly #groups = new Map<string, GroupQueue>()
  /** Private queues of group-less subscriptions. */
  readonly #ephemeral = new Set<GroupQueue>()
  readonly #timers = new Set<Subscription>()
  #pending: GroupQueue[] = []
  #flushQueued = false

  /** `retention`: messages kept per topic for `fromBeginning`; `scheduler` runs delays. */
  constructor(retention: number, scheduler: SchedulerLike) {
    this.#retention = retention
    this.#scheduler = scheduler
  }

  /** Stores and routes the messages (already validated by the transport). */
  publish(messages: readonly OutgoingMessage[]): void {
    const count = messages.length
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

  /**
   * Deletes the group queues of `topic` (those named, or all of them) with what they hold and,
   * without `groups`, the topic's retained messages. Consumers still attached stop receiving.
   */
  deprovision(topic: string, groups: readonly string[] | undefined): void {
    for (const [id, queue] of this.#groups) {
      if (queue.topic !== topic) continue
      if (groups !== undefined && !groups.includes(queue.group as string)) continue
      this.#groups.delete(id)
      queue.removed = true
      queue.clear()
    }
    if (groups === undefined) this.#topics.delete(topic)
    this.#invalidateRoutes()
  }

  /** Attaches a consumer to the group's queue (created if missing) or to a new private queue. */
  attach(
    topic: string,
    group: string | undefined,
    limit: number,
    fromBeginning: boolean,
    sink: DeliverySink,
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
    const consumer = new Consumer(this, queue, sink, limit)
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
  }

  /** A paused consumer takes deliveries again. */
  resume(consumer: Consumer): void {
    this.#dispatch(consumer.queue)
  }

  /** Called by `InFlight` once per delivery, unless the broker is closed or the consumer detached. */
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
    // A settle inside `deliver` (the common case) leaves the work to the running loop: no call.
    if (!queue.dispatching) this.#dispatch(queue)
  }

  /** Closes for good: cancels timers and forgets every message. */
  shutdown(): void {
    this.closed = true
    for (const timer of this.#timers) timer.unsubscribe()
    this.#timers.clear()
    this.#pending = []
  }

  /**
   * Topics (retained messages) and group queues (waiting plus delayed messages, consumers), for
   * `Transport.inspect`; only `topic` and its groups when given, only `groups` when given.
   */
  inspect(topic: string | undefined, groups: readonly string[] | undefined): Omit<Inspection, 'at'> {
    const topics: TopicInfo[] = []
    for (const [name, state] of this.#topics) {
      if (topic === undefined || topic === name) topics.push({ name, messages: state.log.size })
    }
    const found: GroupInfo[] = []
    for (const queue of this.#groups.values()) {
      const group = queue.group as string
      if (topic !== undefined && queue.topic !== topic) continue
      if (groups !== undefined && !groups.includes(group)) continue
      found.push({
        group,
        topic: queue.topic,
        lag: queue.depth + queue.delayed,
        consumers: queue.consumers.length,
      })
    }
    topics.sort((a, b) => a.name.localeCompare(b.name))
    found.sort((a, b) => a.topic.localeCompare(b.topic) || a.group.localeCompare(b.group))
    return { topics, groups: found, complete: true }
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
      state = { log: new RetainedLog(this.#retention), routes: undefined }
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
    const scheduler = this.#scheduler
    const due = scheduler.now() + delayMs
    const arm = (waitMs: number): void => {
      const timer = scheduler.schedule(() => {
        this.#timers.delete(timer)
        // Timers may fire up to a millisecond early against the wall clock: never deliver early.
        const left = due - scheduler.now()
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
    if (queue.dispatching || this.closed) return
    queue.dispatching = true
    try {
      while (queue.hasEligible && !this.closed) {
        // One consumer (the common case) is checked here, keeping V8's inlining budget for delivery.
        const consumers = queue.consumers
        let consumer: Consumer | undefined
        if (consumers.length === 1) {
          consumer = consumers[0] as Consumer
          if (consumer.paused || consumer.count >= consumer.limit) break
        } else {
          consumer = queue.pickConsumer()
          if (consumer === undefined) break
        }
        const message = queue.take() as Message
        const record = new InFlight(this, consumer, message, queue.takenPriority)
        consumer.add(record)
        this.inFlight++
        consumer.sink.deliver(record)
      }
    } finally {
      queue.dispatching = false
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
