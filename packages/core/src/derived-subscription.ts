/**
 * `DerivedSubscription`: one `subscribe()` stream of a derived transport, over one driver consumer.
 *
 * It owns the per-subscription policy every broker shares: the in-flight limit (pause the driver's
 * consumer at the limit, resume below, buffer what still arrives), per-key hold-back where the
 * driver does not keep key order (core's `KeyedExecutor`), settle-once deliveries, the
 * process-held delay fallback on the scheduler, and an ordered detach: settles already started
 * reach the broker before the consumer stops. It does not validate (the transport did) and never
 * talks to the broker except through the driver consumer and raw deliveries.
 */
import type { SchedulerLike, Subscriber, Subscription } from 'rxjs'
import { createDelivery } from './delivery.js'
import type { ConsumeSpec, DeliverySink, DriverConsumer, RawDelivery, TransportDriver } from './driver.js'
import { driverError } from './driver-connection.js'
import type { SwitchyardError } from './errors.js'
import type { InFlightTracker } from './in-flight-tracker.js'
import { KeyedExecutor } from './keyed-executor.js'
import type { Delivery, Message } from './message.js'
import type { SubscriptionHealth } from './transport.js'

/** What a subscription needs from its transport. */
export interface SubscriptionHost {
  readonly driver: TransportDriver
  readonly scheduler: SchedulerLike
  /** Unsettled deliveries over every subscription, for `close({ drain })`. */
  readonly inFlight: InFlightTracker
  /** True once settling must reject with `TransportClosedError`. */
  isClosed(): boolean
  /** Waits for the connection (unbounded); `undefined` when connected now. */
  connected(): Promise<void> | undefined
  /** Called once the subscription has fully detached. */
  forget(subscription: DerivedSubscription): void
}

/** One message handed to the stream (or waiting its turn), over the raw delivery behind it. */
interface Item {
  readonly raw: RawDelivery
  readonly message: Message
}

const noKey = (): undefined => undefined

export class DerivedSubscription {
  readonly topic: string
  readonly spec: ConsumeSpec
  /** Most deliveries handed to the stream and not settled (`SubscribeOptions.inFlight`). */
  readonly limit: number
  readonly #host: SubscriptionHost
  readonly #subscriber: Subscriber<Delivery>
  readonly #onReady: (() => void) | undefined
  readonly #executor: KeyedExecutor<Item>
  /**
   * Raw deliveries received and not settled (handed out, waiting behind their key, delayed here,
   * or held for a drain); the consumer is paused while this is at `spec.prefetch`.
   */
  #received = 0
  #paused = false
  /** Stop handing out deliveries (the transport is draining); they go back on stop. */
  #holding = false
  #detached = false
  #consumer: DriverConsumer | undefined
  /** The driver's `consume` while it has not answered (an asynchronous attach). */
  #attaching: Promise<DriverConsumer | undefined> | undefined
  #stopping: Promise<void> | undefined
  readonly #settling = new Set<Promise<void>>()
  readonly #timers = new Set<Subscription>()

  constructor(
    host: SubscriptionHost,
    topic: string,
    spec: ConsumeSpec,
    limit: number,
    subscriber: Subscriber<Delivery>,
    onReady: (() => void) | undefined,
  ) {
    this.#host = host
    this.topic = topic
    this.spec = spec
    this.limit = limit
    this.#subscriber = subscriber
    this.#onReady = onReady
    const keyOf = host.driver.features.keyOrder ? noKey : (item: Item) => item.message.key
    this.#executor = new KeyedExecutor<Item>(limit, keyOf, (item) => this.#emit(item))
  }

  /** Unsettled deliveries handed to the stream. */
  get inFlight(): number {
    return this.#executor.running
  }

  /** Attaches the driver consumer, after the connection is up. */
  start(): void {
    const waiting = this.#host.connected()
    if (waiting === undefined) this.#consume()
    else
      waiting.then(
        () => this.#consume(),
        (error: unknown) => this.#fail(driverError(this.#host.driver.kind, error, 'consume')),
      )
  }

  /** Stops handing out deliveries and fetching; what arrives now is held and given back on stop. */
  hold(): void {
    this.#holding = true
    this.#pause()
    for (const timer of this.#timers) timer.unsubscribe()
    this.#timers.clear()
  }

  /**
   * Detaches: settling becomes a no-op, pending delays are dropped, settles already started are
   * awaited, then the driver consumer stops (giving unsettled deliveries back). Idempotent;
   * resolves once fully detached. `complete` ends the stream (a deliberate close).
   */
  stop(complete: boolean): Promise<void> {
    if (this.#stopping === undefined) {
      this.#detached = true
      this.hold()
      this.#executor.takePending()
      const unsettled = this.#executor.running
      if (unsettled > 0) this.#host.inFlight.done(unsettled)
      this.#stopping = this.#detach()
    }
    if (complete && !this.#subscriber.closed) this.#subscriber.complete()
    return this.#stopping
  }

  /** A health entry for this subscription. */
  async health(): Promise<SubscriptionHealth> {
    const facts = (await this.#consumer?.health?.()) ?? {}
    return { topic: this.topic, group: this.spec.group, inFlight: this.inFlight, ...facts }
  }

  async #detach(): Promise<void> {
    while (this.#settling.size > 0) await Promise.allSettled([...this.#settling])
    try {
      const consumer = this.#consumer ?? (await this.#attaching)
      await consumer?.stop()
    } catch {
      // A driver's stop must resolve; whatever it held goes back to the broker either way.
    } finally {
      this.#host.forget(this)
    }
  }

  #consume(): void {
    if (this.#detached) return
    const sink: DeliverySink = {
      deliver: (raw) => this.#deliver(raw),
      ready: () => this.#ready(),
      fail: (error) => this.#fail(error),
    }
    let attached: Promise<DriverConsumer> | DriverConsumer
    try {
      attached = this.#host.driver.consume(this.topic, this.spec, sink)
    } catch (error) {
      this.#fail(driverError(this.#host.driver.kind, error, 'consume'))
      return
    }
    if (!(attached instanceof Promise)) {
      this.#attached(attached)
      return
    }
    // Detached meanwhile: `#detach` awaits this and stops the consumer once it exists.
    this.#attaching = attached.then(
      (consumer) => {
        this.#attached(consumer)
        return consumer
      },
      (error: unknown) => {
        this.#fail(driverError(this.#host.driver.kind, error, 'consume'))
        return undefined
      },
    )
  }

  #attached(consumer: DriverConsumer): void {
    this.#consumer = consumer
    if (this.#paused) consumer.pause()
  }

  #ready(): void {
    if (this.#detached) return
    try {
      this.#onReady?.()
    } catch (error) {
      this.#subscriber.error(error)
      void this.stop(false)
    }
  }

  #fail(error: SwitchyardError): void {
    if (this.#detached) return
    this.#subscriber.error(error)
    void this.stop(false)
  }

  #deliver(raw: RawDelivery): void {
    if (this.#detached) return
    this.#push({ raw, message: raw.message })
  }

  #push(item: Item): void {
    this.#received++
    if (this.#received >= this.spec.prefetch) this.#pause()
    this.#executor.push(item)
  }

  #emit(item: Item): void {
    if (this.#holding) {
      // Not handed out: the slot is free again; the raw delivery goes back to the broker on stop.
      this.#executor.release(item)
      return
    }
    this.#host.inFlight.add()
    const raw = item.raw
    const delivery = createDelivery(item.message, {
      transport: this.#host.driver.kind,
      ack: () => this.#settled(item, () => raw.ack()),
      nack: ({ requeue, delayMs }) => {
        if (delayMs !== undefined) {
          const delay = raw.delay
          if (delay !== undefined) return this.#settled(item, () => delay.call(raw, delayMs))
          return this.#delayHere(item, delayMs)
        }
        return this.#settled(item, requeue ? () => raw.requeue() : () => raw.reject())
      },
      isClosed: () => this.#host.isClosed(),
      isDetached: () => this.#detached,
    })
    this.#subscriber.next(delivery)
  }

  /** Counts a settle as done for the stream now and keeps its broker promise until it resolves. */
  #settled(item: Item, settle: () => Promise<void>): Promise<void> {
    let settling: Promise<void>
    try {
      settling = settle()
    } catch (error) {
      settling = Promise.reject(error)
    }
    this.#release(item)
    this.#settling.add(settling)
    const forget = (): void => {
      this.#settling.delete(settling)
    }
    settling.then(forget, forget)
    return settling
  }

  /** The process-held delay: the raw delivery stays unsettled at the broker until it comes back here. */
  #delayHere(item: Item, delayMs: number): Promise<void> {
    this.#received++
    this.#release(item)
    const timer = this.#host.scheduler.schedule(() => {
      this.#timers.delete(timer)
      if (this.#detached || this.#holding) return
      this.#received--
      const message = item.message
      this.#push({ raw: item.raw, message: { ...message, attempt: message.attempt + 1 } })
    }, delayMs)
    this.#timers.add(timer)
    return Promise.resolve()
  }

  #release(item: Item): void {
    this.#host.inFlight.done()
    this.#received--
    this.#executor.release(item)
    if (this.#paused && !this.#holding && this.#received < this.spec.prefetch) {
      this.#paused = false
      this.#consumer?.resume()
    }
  }

  #pause(): void {
    if (this.#paused) return
    this.#paused = true
    this.#consumer?.pause()
  }
}
