/**
 * `ToyDriver`: an array-backed broker that implements only the driver SPI, the proof that
 * `deriveTransport` needs nothing more to pass the transport contract.
 *
 * Each group is an array of messages shared by its consumers (round robin); a subscription
 * without a group gets a private array. It keeps no key order and holds no delays itself
 * (`features` are both false), so the core's per-key hold-back and process-held delay are what
 * the contract exercises. `ordered` consumers of a group take turns as one active consumer.
 */
import type {
  ConsumeSpec,
  DeliverySink,
  DriverConsumer,
  Message,
  OutgoingMessage,
  RawDelivery,
  TransportDriver,
} from '@switchyard/core/spi'

interface Queue {
  readonly topic: string
  readonly group: string | undefined
  readonly messages: Message[]
  readonly consumers: ToyConsumer[]
  next: number
}

const done = Promise.resolve()

class ToyConsumer implements DriverConsumer {
  paused = false
  stopped = false
  readonly unsettled = new Set<Message>()
  constructor(
    readonly driver: ToyDriver,
    readonly queue: Queue,
    readonly spec: ConsumeSpec,
    readonly sink: DeliverySink,
  ) {}

  get hasRoom(): boolean {
    return !this.paused && !this.stopped && this.unsettled.size < this.spec.prefetch
  }
  pause(): void {
    this.paused = true
  }
  resume(): void {
    this.paused = false
    this.driver.pump(this.queue)
  }
  stop(): Promise<void> {
    if (this.stopped) return done
    this.stopped = true
    const queue = this.queue
    queue.consumers.splice(queue.consumers.indexOf(this), 1)
    // Unsettled messages go back to the front, in delivery order, with their attempt unchanged.
    queue.messages.unshift(...this.unsettled)
    this.unsettled.clear()
    if (queue.group === undefined) this.driver.drop(queue)
    else this.driver.pump(queue)
    return done
  }
}

export class ToyDriver implements TransportDriver {
  readonly kind = 'toy'
  readonly capabilities = {
    orderedByKey: false,
    persistent: false,
    replay: false,
    priority: false,
    patterns: false,
    durableDelay: false,
    maxMessageBytes: 256 * 1024,
  }
  readonly features = { keyOrder: false, delay: false }
  readonly #queues = new Set<Queue>()

  connect(): Promise<void> {
    return done
  }

  publish(messages: readonly OutgoingMessage[]): Promise<void> {
    for (const m of messages) {
      const message: Message = { ...m, key: m.key, attempt: 1 }
      for (const queue of this.#queues) {
        if (queue.topic !== message.topic) continue
        queue.messages.push(message)
        this.pump(queue)
      }
    }
    return done
  }

  provision(topic: string, groups: readonly string[]): Promise<void> {
    for (const group of groups) this.#queue(topic, group)
    return done
  }

  deprovision(topic: string, groups: readonly string[] | undefined): Promise<void> {
    for (const queue of this.#queues) {
      if (queue.topic === topic && (groups === undefined || groups.includes(queue.group ?? '')))
        this.drop(queue)
    }
    return done
  }

  consume(topic: string, spec: ConsumeSpec, sink: DeliverySink): DriverConsumer {
    const queue = spec.group === undefined ? this.#add(topic, undefined) : this.#queue(topic, spec.group)
    const consumer = new ToyConsumer(this, queue, spec, sink)
    queue.consumers.push(consumer)
    sink.ready()
    this.pump(queue)
    return consumer
  }

  close(): Promise<void> {
    for (const queue of this.#queues) this.drop(queue)
    return done
  }

  drop(queue: Queue): void {
    this.#queues.delete(queue)
    queue.messages.length = 0
  }

  /** Hands messages to consumers with room, in a later microtask (as a broker's network would). */
  pump(queue: Queue): void {
    queueMicrotask(() => {
      while (queue.messages.length > 0) {
        const consumer = this.#pick(queue)
        if (consumer === undefined) return
        const message = queue.messages.shift() as Message
        consumer.unsettled.add(message)
        consumer.sink.deliver(this.#raw(consumer, message))
      }
    })
  }

  #pick(queue: Queue): ToyConsumer | undefined {
    const consumers = queue.consumers
    // Ordered consumers of a group: only the first one attached is active.
    if (consumers[0]?.spec.ordered) return consumers[0].hasRoom ? consumers[0] : undefined
    for (let i = 0; i < consumers.length; i++) {
      const consumer = consumers[(queue.next + i) % consumers.length] as ToyConsumer
      if (consumer.hasRoom) {
        queue.next = (queue.next + i + 1) % consumers.length
        return consumer
      }
    }
    return undefined
  }

  #raw(consumer: ToyConsumer, message: Message): RawDelivery {
    const settle = (back: Message | undefined): Promise<void> => {
      if (consumer.stopped || !consumer.unsettled.delete(message)) return done
      if (back !== undefined) consumer.queue.messages.unshift(back)
      this.pump(consumer.queue)
      return done
    }
    return {
      message,
      ack: () => settle(undefined),
      reject: () => settle(undefined),
      requeue: () => settle({ ...message, attempt: message.attempt + 1 }),
    }
  }

  #queue(topic: string, group: string): Queue {
    for (const queue of this.#queues) if (queue.topic === topic && queue.group === group) return queue
    return this.#add(topic, group)
  }

  #add(topic: string, group: string | undefined): Queue {
    const queue: Queue = { topic, group, messages: [], consumers: [], next: 0 }
    this.#queues.add(queue)
    return queue
  }
}
