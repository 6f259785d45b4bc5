/**
 * `Consumer` and `InFlight`: one subscription attached to a group queue, and one unsettled
 * delivery it holds.
 *
 * A consumer keeps its unsettled deliveries in an intrusive doubly linked list (no allocation
 * beyond the `InFlight` record itself), so settling is O(1) and unsubscribing can hand every
 * unsettled message back to the queue in delivery order. `InFlight` is the `DeliverySettler`
 * behind `createDelivery`; the broker does the actual bookkeeping. Nothing here validates input.
 */
import type { Delivery, DeliverySettler, Message } from '@switchyard/core/spi'
import type { Subscriber } from 'rxjs'
import type { GroupQueue } from './group-queue.js'

/** What an `InFlight` needs from the broker that owns it. */
export interface SettlementTarget {
  readonly closed: boolean
  settle(record: InFlight, requeue: boolean, delayMs: number | undefined, acked: boolean): void
}

const done: Promise<void> = Promise.resolve()

export class InFlight implements DeliverySettler {
  prev: InFlight | undefined = undefined
  next: InFlight | undefined = undefined
  readonly #target: SettlementTarget
  readonly consumer: Consumer
  readonly message: Message
  readonly priority: number

  constructor(target: SettlementTarget, consumer: Consumer, message: Message, priority: number) {
    this.#target = target
    this.consumer = consumer
    this.message = message
    this.priority = priority
  }

  get transport(): string {
    return 'memory'
  }

  ack(): Promise<void> {
    this.#target.settle(this, false, undefined, true)
    return done
  }

  nack(options: { readonly requeue: boolean; readonly delayMs?: number }): Promise<void> {
    this.#target.settle(this, options.requeue, options.delayMs, false)
    return done
  }

  isClosed(): boolean {
    return this.#target.closed
  }

  isDetached(): boolean {
    return this.consumer.detached
  }
}

export class Consumer {
  readonly queue: GroupQueue
  readonly subscriber: Subscriber<Delivery>
  /** Most unsettled deliveries at once. */
  readonly limit: number
  /** Unsettled deliveries now. */
  count = 0
  /** Set when the subscription ended: its deliveries were taken back. */
  detached = false
  #last: InFlight | undefined = undefined

  constructor(queue: GroupQueue, subscriber: Subscriber<Delivery>, limit: number) {
    this.queue = queue
    this.subscriber = subscriber
    this.limit = limit
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
