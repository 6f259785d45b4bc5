/**
 * A small in-test `Transport` for the Bus unit tests: per-group FIFO queues, in-flight limits,
 * requeue and delayed redelivery with attempt counting, redelivery of unsettled deliveries on
 * unsubscribe, and `TransportClosedError` after close. It is NOT `@switchyard/memory` (core must
 * not depend on it) and models no per-key ordering beyond FIFO; the contract suite runs the Bus
 * on the real transports.
 */
import { asyncScheduler, Observable, type SchedulerLike, type Subscriber, type Subscription } from 'rxjs'
import {
  type Capabilities,
  type CloseOptions,
  createDelivery,
  type Delivery,
  type HealthReport,
  InFlightTracker,
  type Message,
  type OutgoingMessage,
  StatusSubject,
  type SubscribeOptions,
  type Transport,
  TransportClosedError,
} from '../spi.js'

interface Entry {
  readonly message: OutgoingMessage
  readonly attempt: number
}

interface Consumer {
  readonly subscriber: Subscriber<Delivery>
  readonly inFlight: number
  unsettled: number
  detached: boolean
  readonly holding: Set<Entry>
}

interface Group {
  readonly queue: Entry[]
  readonly consumers: Consumer[]
  readonly ephemeral: boolean
}

let ephemeralCount = 0

export class StubTransport implements Transport {
  readonly kind = 'stub'
  readonly capabilities: Capabilities = {
    orderedByKey: false,
    persistent: false,
    replay: false,
    priority: false,
    patterns: false,
    durableDelay: false,
    maxMessageBytes: undefined,
  }
  readonly #status = new StatusSubject('connected')
  readonly status$ = this.#status.status$
  /** Every message accepted by `publish`, in order. */
  readonly published: OutgoingMessage[] = []
  /** Number of `publish` calls. */
  publishCalls = 0
  /** When set, `publish` to this topic rejects with this error. */
  failPublishTo: { topic: string; error: Error } | undefined
  readonly #topics = new Map<string, Map<string, Group>>()
  readonly #unsettled = new InFlightTracker()
  readonly #timers = new Set<Subscription>()
  readonly #scheduler: SchedulerLike
  /** Every settlement, in order: `ack`, or `nack` with its delay. */
  readonly settlements: { readonly id: string; readonly op: 'ack' | 'nack'; readonly delayMs?: number }[] = []
  #closed = false

  /** `scheduler` runs delayed redelivery (default: real time), so tests can use virtual time. */
  constructor(options: { readonly scheduler?: SchedulerLike } = {}) {
    this.#scheduler = options.scheduler ?? asyncScheduler
  }

  connect(): Promise<void> {
    return this.#closed ? Promise.reject(this.#closedError('connect')) : Promise.resolve()
  }

  async publish(messages: readonly OutgoingMessage[]): Promise<void> {
    if (this.#closed) throw this.#closedError('publish')
    this.publishCalls++
    await Promise.resolve()
    for (const message of messages) {
      if (this.failPublishTo?.topic === message.topic) throw this.failPublishTo.error
    }
    for (const message of messages) {
      this.published.push(message)
      for (const group of this.#groups(message.topic).values()) {
        group.queue.push({ message, attempt: 1 })
        this.#pump(group)
      }
    }
  }

  async provision(topic: string, options: { readonly groups?: readonly string[] } = {}): Promise<void> {
    for (const name of options.groups ?? []) this.#group(topic, name, false)
  }

  async deprovision(topic: string): Promise<void> {
    if (this.#closed) throw this.#closedError('deprovision')
    this.#topics.delete(topic)
  }

  /** Errors the stream of every current subscriber of `topic` with `error` (a queue deleted under it, say). */
  failSubscribers(topic: string, error: Error): void {
    for (const group of [...this.#groups(topic).values()]) {
      for (const consumer of [...group.consumers]) consumer.subscriber.error(error)
    }
  }

  /** The next `subscribe` calls fail at once with these errors, one each, in order. */
  readonly failSubscribes: Error[] = []

  /** Number of `subscribe` calls (stream subscriptions) so far. */
  subscribeCalls = 0

  subscribe(topic: string, options: SubscribeOptions = {}): Observable<Delivery> {
    return new Observable<Delivery>((subscriber) => {
      this.subscribeCalls++
      if (this.#closed) {
        subscriber.error(this.#closedError('subscribe'))
        return
      }
      const failure = this.failSubscribes.shift()
      if (failure !== undefined) {
        subscriber.error(failure)
        return
      }
      const ephemeral = options.group === undefined
      const group = this.#group(topic, options.group ?? `ephemeral-${++ephemeralCount}`, ephemeral)
      const consumer: Consumer = {
        subscriber,
        inFlight: options.inFlight ?? 64,
        unsettled: 0,
        detached: false,
        holding: new Set(),
      }
      group.consumers.push(consumer)
      options.onReady?.()
      this.#pump(group)
      return () => {
        consumer.detached = true
        group.consumers.splice(group.consumers.indexOf(consumer), 1)
        // Back to the front of the queue, in their original order.
        group.queue.unshift(...consumer.holding)
        this.#unsettled.done(consumer.holding.size)
        consumer.holding.clear()
        if (group.ephemeral)
          this.#groups(topic).delete([...this.#groups(topic)].find(([, g]) => g === group)![0])
        else this.#pump(group)
      }
    })
  }

  async health(): Promise<HealthReport> {
    return {
      status: this.#closed ? 'down' : 'up',
      kind: this.kind,
      state: this.#status.state,
      subscriptions: [],
      details: {},
    }
  }

  async close(options: CloseOptions = {}): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#status.set('closing')
    if (options.drain !== false) await this.#unsettled.whenIdle(options.timeoutMs ?? 10_000)
    for (const timer of this.#timers) timer.unsubscribe()
    for (const groups of this.#topics.values()) {
      for (const group of groups.values()) {
        for (const consumer of [...group.consumers]) consumer.subscriber.error(this.#closedError('consume'))
      }
    }
    this.#status.set('closed')
  }

  /** Deliveries handed out and not settled yet, over all subscriptions. */
  get unsettled(): number {
    return this.#unsettled.count
  }

  /** Messages waiting (not delivered) in a group's queue. */
  queued(topic: string, group: string): number {
    return this.#topics.get(topic)?.get(group)?.queue.length ?? 0
  }

  #closedError(operation: string): TransportClosedError {
    return new TransportClosedError(operation, { context: { transport: this.kind } })
  }

  #groups(topic: string): Map<string, Group> {
    let groups = this.#topics.get(topic)
    if (!groups) {
      groups = new Map()
      this.#topics.set(topic, groups)
    }
    return groups
  }

  #group(topic: string, name: string, ephemeral: boolean): Group {
    const groups = this.#groups(topic)
    let group = groups.get(name)
    if (!group) {
      group = { queue: [], consumers: [], ephemeral }
      groups.set(name, group)
    }
    return group
  }

  #pump(group: Group): void {
    let progressed = true
    while (progressed && group.queue.length > 0) {
      progressed = false
      for (const consumer of group.consumers) {
        if (group.queue.length === 0) break
        if (consumer.unsettled >= consumer.inFlight) continue
        const entry = group.queue.shift() as Entry
        this.#deliver(group, consumer, entry)
        progressed = true
      }
    }
  }

  #deliver(group: Group, consumer: Consumer, entry: Entry): void {
    consumer.unsettled++
    consumer.holding.add(entry)
    this.#unsettled.add()
    const { message: m } = entry
    const message: Message = {
      id: m.id,
      topic: m.topic,
      key: m.key,
      headers: m.headers,
      payload: m.payload,
      timestamp: m.timestamp,
      attempt: entry.attempt,
    }
    const release = () => {
      consumer.unsettled--
      consumer.holding.delete(entry)
      this.#unsettled.done()
    }
    const delivery = createDelivery(message, {
      transport: this.kind,
      isClosed: () => this.#closed,
      isDetached: () => consumer.detached,
      ack: async () => {
        this.settlements.push({ id: m.id, op: 'ack' })
        release()
        this.#pump(group)
      },
      nack: async ({ requeue, delayMs }) => {
        this.settlements.push(
          delayMs === undefined ? { id: m.id, op: 'nack' } : { id: m.id, op: 'nack', delayMs },
        )
        release()
        if (requeue) {
          const again = { message: m, attempt: entry.attempt + 1 }
          if (delayMs === undefined) group.queue.push(again)
          else {
            const timer = this.#scheduler.schedule(() => {
              this.#timers.delete(timer)
              group.queue.push(again)
              this.#pump(group)
            }, delayMs)
            this.#timers.add(timer)
          }
        }
        this.#pump(group)
      },
    })
    consumer.subscriber.next(delivery)
  }
}
