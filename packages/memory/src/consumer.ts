/**
 * `Consumer` and `InFlight`: one driver consumer attached to a group queue, and one unsettled
 * raw delivery it holds.
 *
 * A consumer keeps its unsettled deliveries in an intrusive doubly linked list (no allocation
 * beyond the `InFlight` record itself), so settling is O(1) and stopping can hand every unsettled
 * message back to the queue in delivery order. `InFlight` is the driver's `RawDelivery`; the
 * broker does the actual bookkeeping. Settle-once, in-flight limits and drain are the derived
 * transport's job; nothing here validates input.
 */
import type { ConsumerHealth, DeliverySink, DriverConsumer, Message, RawDelivery } from '@switchyard/core/spi'
import type { GroupQueue } from './group-queue.js'

/** What an `InFlight` and a `Consumer` need from the broker that owns them. */
export interface SettlementTarget {
  readonly closed: boolean
  settle(record: InFlight, requeue: boolean, delayMs: number | undefined, acked: boolean): void
  detach(consumer: Consumer): void
  resume(consumer: Consumer): void
}

const done: Promise<void> = Promise.resolve()

/** One unsettled delivery: the raw delivery the core settles, linked into its consumer's list. */
export class InFlight implements RawDelivery {
  // Declared, set in the constructor: no field initializer to run (and inline) per delivery.
  declare prev: InFlight | undefined
  declare next: InFlight | undefined
  declare readonly target: SettlementTarget
  declare readonly consumer: Consumer
  declare readonly message: Message
  declare readonly priority: number

  constructor(target: SettlementTarget, consumer: Consumer, message: Message, priority: number) {
    this.prev = undefined
    this.next = undefined
    this.target = target
    this.consumer = consumer
    this.message = message
    this.priority = priority
  }

  // Every settle completes synchronously: `undefined` tells the core there is nothing to await.
  ack(): undefined {
    this.#settle(false, undefined, true)
  }

  reject(): undefined {
    this.#settle(false, undefined, false)
  }

  requeue(): undefined {
    this.#settle(true, undefined, false)
  }

  /** Broker-held: the queue keeps the message on a timer of the broker's scheduler. */
  delay(ms: number): undefined {
    this.#settle(true, ms, false)
  }

  /** A settle after the consumer stopped or the broker closed does nothing: the message went back. */
  #settle(requeue: boolean, delayMs: number | undefined, acked: boolean): void {
    if (!this.consumer.detached && !this.target.closed) this.target.settle(this, requeue, delayMs, acked)
  }
}

/** One driver consumer on a group queue: its prefetch limit, pause flag and unsettled deliveries. */
export class Consumer implements DriverConsumer {
  readonly queue: GroupQueue
  readonly sink: DeliverySink
  /** Most unsettled deliveries at once (the prefetch). */
  readonly limit: number
  /** Unsettled deliveries now. */
  count = 0
  /** Set by `pause`: the queue skips this consumer until `resume`. */
  paused = false
  /** Set when the consumer stopped: its deliveries were taken back. */
  detached = false
  readonly #target: SettlementTarget
  #last: InFlight | undefined = undefined

  constructor(target: SettlementTarget, queue: GroupQueue, sink: DeliverySink, limit: number) {
    this.#target = target
    this.queue = queue
    this.sink = sink
    this.limit = limit
  }

  /** True when the queue may hand this consumer another message. */
  get hasRoom(): boolean {
    return !this.paused && this.count < this.limit
  }

  pause(): void {
    this.paused = true
  }

  resume(): void {
    if (!this.paused) return
    this.paused = false
    if (!this.detached) this.#target.resume(this)
  }

  /** Gives unsettled deliveries back to the queue; settling them afterwards does nothing. */
  stop(): Promise<void> {
    this.#target.detach(this)
    return done
  }

  health(): ConsumerHealth {
    const queue = this.queue
    return { lag: queue.depth + queue.delayed, consumers: queue.consumers.length }
  }

  /** Records a delivery as unsettled. */
  add(record: InFlight): void {
    const last = this.#last
    record.prev = last
    if (last !== undefined) last.next = record
    this.#last = record
    this.count++
  }

  /** Forgets a settled delivery. */
  remove(record: InFlight): void {
    const { prev, next } = record
    if (prev !== undefined) prev.next = next
    if (next === undefined) this.#last = prev
    else next.prev = prev
    record.prev = undefined
    record.next = undefined
    this.count--
  }

  /** Detaches and returns the unsettled deliveries, newest first. */
  takeAll(): InFlight[] {
    const records: InFlight[] = []
    for (let record = this.#last; record !== undefined; record = record.prev) records.push(record)
    this.#last = undefined
    this.count = 0
    return records
  }
}
