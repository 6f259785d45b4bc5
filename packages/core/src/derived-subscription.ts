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
import { normaliseNack } from './delivery.js'
import type {
  ConsumeSpec,
  DeliverySink,
  DriverConsumer,
  RawDelivery,
  Settled,
  TransportDriver,
} from './driver.js'
import { driverError } from './driver-connection.js'
import { type SwitchyardError, TransportClosedError } from './errors.js'
import type { InFlightTracker } from './in-flight-tracker.js'
import { Fifo, KeyedExecutor } from './keyed-executor.js'
import type { Delivery, Message, NackOptions } from './message.js'
import type { SettleWatcher } from './settle-watch.js'
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

const done: Promise<void> = Promise.resolve()

/**
 * One message handed to the stream (or waiting its turn), over the raw delivery behind it. It is
 * the settle-once `Delivery` itself (what `createDelivery` does for adapters, folded in here), so
 * a delivery costs this one object in core: settling twice does nothing, settling after close
 * rejects with `TransportClosedError`, settling after detach does nothing (the broker takes the
 * message back).
 */
class Item implements Delivery {
  readonly message: Message
  // Truly private: the application holds this object, and only settling it may reach the broker.
  readonly #raw: RawDelivery
  readonly #owner: DerivedSubscription
  #settled = false

  constructor(owner: DerivedSubscription, raw: RawDelivery, message: Message) {
    this.#owner = owner
    this.#raw = raw
    this.message = message
  }

  get settled(): boolean {
    return this.#settled
  }

  ack(): Promise<void> {
    if (this.#settled) return done
    const owner = this.#owner
    const watcher = owner.watcher
    if (watcher === undefined) return this.#ack(owner)
    const settled = this.#ack(owner)
    watcher.settling(settled)
    return settled
  }

  #ack(owner: DerivedSubscription): Promise<void> {
    if (owner.closed) return closedError(owner, this.message, 'ack')
    this.#settled = true
    if (owner.detached) return done
    try {
      return owner.ack(this, this.#raw)
    } catch (error) {
      return Promise.reject(error)
    }
  }

  nack(options?: NackOptions): Promise<void> {
    let normalised: ReturnType<typeof normaliseNack>
    try {
      normalised = normaliseNack(options)
    } catch (error) {
      return Promise.reject(error)
    }
    if (this.#settled) return done
    const owner = this.#owner
    const settled = this.#nack(owner, normalised)
    owner.watcher?.settling(settled)
    return settled
  }

  #nack(owner: DerivedSubscription, normalised: ReturnType<typeof normaliseNack>): Promise<void> {
    if (owner.closed) return closedError(owner, this.message, 'nack')
    this.#settled = true
    if (owner.detached) return done
    try {
      if (normalised.delayMs !== undefined) return owner.settle(this, this.#raw, 'delay', normalised.delayMs)
      return owner.settle(this, this.#raw, normalised.requeue ? 'requeue' : 'reject', undefined)
    } catch (error) {
      return Promise.reject(error)
    }
  }
}

/** Calls the raw delivery's settle; a synchronous throw becomes a rejected promise. */
function settleRaw(
  raw: RawDelivery,
  operation: 'ack' | 'reject' | 'requeue' | 'delay',
  delayMs: number | undefined,
): Settled {
  try {
    if (operation === 'ack') return raw.ack()
    if (operation === 'reject') return raw.reject()
    if (operation === 'requeue') return raw.requeue()
    return (raw.delay as (ms: number) => Settled).call(raw, delayMs as number)
  } catch (error) {
    return Promise.reject(error)
  }
}

/** Settling after close: rejects with `TransportClosedError`. */
function closedError(owner: DerivedSubscription, message: Message, operation: 'ack' | 'nack'): Promise<void> {
  return Promise.reject(
    new TransportClosedError(`${operation} a delivery`, {
      context: { transport: owner.kind, topic: message.topic },
    }),
  )
}

/**
 * One subscription's flow between a driver consumer and its stream (see the module header).
 * Internal to core: `DriverTransport` creates one per `subscribe()`.
 */
export class DerivedSubscription {
  readonly topic: string
  readonly spec: ConsumeSpec
  /** Most deliveries handed to the stream and not settled (`SubscribeOptions.inFlight`). */
  readonly limit: number
  /** Told of each delivery's first settle (the Bus's drain, where it hands deliveries out as they are). */
  readonly watcher: SettleWatcher | undefined
  readonly #host: SubscriptionHost
  /** `host.inFlight` and `spec.prefetch`, read once per delivery on the hot path. */
  readonly #tracker: InFlightTracker
  readonly #prefetch: number
  readonly #subscriber: Subscriber<Delivery>
  readonly #onReady: (() => void) | undefined
  /** Per-key hold-back, where the driver does not keep key order; else the three fields below. */
  readonly #executor: KeyedExecutor<Item> | undefined
  /** Deliveries handed out and not settled (driver keeps key order: no executor). */
  #running = 0
  /** Deliveries over the limit waiting for a slot (a driver may deliver a few after `pause`). */
  readonly #waiting = new Fifo<Item>()
  /** Inside `#emit` or `#pumpWaiting`: a nested push or release leaves the starting to that loop. */
  #emitting = false
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
    watcher?: SettleWatcher,
  ) {
    this.watcher = watcher
    this.#host = host
    this.#tracker = host.inFlight
    this.#prefetch = spec.prefetch
    this.topic = topic
    this.spec = spec
    this.limit = limit
    this.#subscriber = subscriber
    this.#onReady = onReady
    // Where the driver keeps key order, a counter and a queue bound the stream: no per-key work.
    this.#executor = host.driver.features.keyOrder
      ? undefined
      : new KeyedExecutor<Item>(
          limit,
          (item) => item.message.key,
          (item) => this.#emit(item),
        )
  }

  /** Unsettled deliveries handed to the stream. */
  get inFlight(): number {
    return this.#executor === undefined ? this.#running : this.#executor.running
  }

  /** The driver's kind, for error messages. */
  get kind(): string {
    return this.#host.driver.kind
  }

  /** True once settling must reject with `TransportClosedError`. */
  get closed(): boolean {
    return this.#host.isClosed()
  }

  /** True once the subscription detached: settling does nothing (the broker takes the message back). */
  get detached(): boolean {
    return this.#detached
  }

  /**
   * Settles a delivery handed out by this subscription (called once per item, by its settler):
   * at the broker, or here for a delay the broker cannot hold. The settle counts as done for the
   * stream at once; its broker promise is kept until it resolves, so stopping waits for it.
   */
  settle(
    item: Item,
    raw: RawDelivery,
    operation: 'ack' | 'reject' | 'requeue' | 'delay',
    delayMs: number | undefined,
  ): Promise<void> {
    if (operation === 'delay' && raw.delay === undefined) return this.#delayHere(item, raw, delayMs as number)
    const settling = settleRaw(raw, operation, delayMs)
    this.#release(item)
    // Kept small on purpose (it is inlined into the driver's dispatch loop): tracking is apart.
    return settling === undefined ? done : this.#track(settling)
  }

  /**
   * `settle(item, raw, 'ack')`, apart because it is the common settle: kept small so that it is
   * inlined into the driver's dispatch loop (the same steps: raw ack, release, track).
   */
  ack(item: Item, raw: RawDelivery): Promise<void> {
    let settling: Settled
    try {
      settling = raw.ack()
    } catch (error) {
      settling = Promise.reject(error)
    }
    this.#release(item)
    return settling === undefined ? done : this.#track(settling)
  }

  /** Keeps a settle's broker promise until it resolves, so stopping waits for it. */
  #track(tracked: Promise<void>): Promise<void> {
    this.#settling.add(tracked)
    const forget = (): void => {
      this.#settling.delete(tracked)
    }
    tracked.then(forget, forget)
    return tracked
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
      if (this.#executor === undefined) this.#waiting.drain()
      else this.#executor.takePending()
      const unsettled = this.inFlight
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
      deliver:
        this.#executor === undefined ? (raw) => this.#deliverInOrder(raw) : (raw) => this.#deliver(raw),
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
    this.#push(new Item(this, raw, raw.message))
  }

  /**
   * `#deliver` where the driver keeps key order: `#push`'s common case written out (a free slot,
   * nobody waiting ahead, not holding: hand it to the stream), every other case left to `#enqueue`.
   * It stays small so that V8 inlines it, and the stream's `next`, into the driver's dispatch loop.
   */
  #deliverInOrder(raw: RawDelivery): void {
    if (this.#detached) return
    const item = new Item(this, raw, raw.message)
    this.#received++
    if (this.#running < this.limit && !this.#emitting && !this.#holding && this.#waiting.size === 0) {
      this.#running++
      this.#emitting = true
      this.#tracker.add()
      try {
        this.#subscriber.next(item)
      } finally {
        this.#emitting = false
      }
      if (this.#waiting.size > 0) this.#pumpWaiting()
    } else {
      this.#enqueue(item)
    }
    if (this.#received >= this.#prefetch) this.#pause()
  }

  /**
   * Takes a raw delivery in. The consumer is paused once this returns holding `prefetch` raw
   * deliveries, not before the stream saw the delivery: a delivery settled synchronously by the
   * stream never pauses the consumer (no pause/resume pair per message at `inFlight: 1`), while
   * one left unsettled pauses it before the driver's `deliver` call returns, as before. What a
   * driver hands over meanwhile (from inside a settle) is buffered as ever.
   */
  #push(item: Item): void {
    this.#received++
    if (
      this.#executor === undefined &&
      this.#running < this.limit &&
      !this.#emitting &&
      this.#waiting.size === 0
    ) {
      // The common case where the driver keeps key order: a free slot and nobody waiting ahead.
      this.#running++
      this.#emitting = true
      try {
        this.#emit(item)
      } finally {
        this.#emitting = false
      }
      if (this.#waiting.size > 0) this.#pumpWaiting()
    } else {
      this.#enqueue(item)
    }
    if (this.#received >= this.#prefetch) this.#pause()
  }

  /** Not handed out at once: behind its key or a full window. */
  #enqueue(item: Item): void {
    if (this.#executor !== undefined) {
      this.#executor.push(item)
      return
    }
    this.#waiting.push(item)
    this.#pumpWaiting()
  }

  #emit(item: Item): void {
    if (this.#holding) {
      // Not handed out: the slot is free again; the raw delivery goes back to the broker on stop.
      this.#releaseSlot(item)
      return
    }
    this.#tracker.add()
    this.#subscriber.next(item)
  }

  /** The process-held delay: the raw delivery stays unsettled at the broker until it comes back here. */
  #delayHere(item: Item, raw: RawDelivery, delayMs: number): Promise<void> {
    this.#received++
    this.#release(item)
    const timer = this.#host.scheduler.schedule(() => {
      this.#timers.delete(timer)
      if (this.#detached || this.#holding) return
      this.#received--
      const message = item.message
      this.#push(new Item(this, raw, { ...message, attempt: message.attempt + 1 }))
    }, delayMs)
    this.#timers.add(timer)
    return Promise.resolve()
  }

  #release(item: Item): void {
    this.#tracker.done()
    this.#received--
    this.#releaseSlot(item)
    if (this.#paused && !this.#holding && this.#received < this.#prefetch) {
      this.#paused = false
      this.#consumer?.resume()
    }
  }

  /** Frees the item's slot and starts what may run next. */
  #releaseSlot(item: Item): void {
    if (this.#executor !== undefined) {
      this.#executor.release(item)
      return
    }
    this.#running--
    if (this.#waiting.size > 0) this.#pumpWaiting()
  }

  /**
   * Hands out waiting deliveries while slots are free (driver keeps key order). Not re-entrant,
   * like `KeyedExecutor`'s pump: a settle made inside the stream returns at once and this loop
   * picks up the work, so the stack never grows with the queue.
   */
  #pumpWaiting(): void {
    if (this.#emitting) return
    this.#emitting = true
    try {
      while (this.#running < this.limit) {
        const next = this.#waiting.shift()
        if (next === undefined) return
        this.#running++
        this.#emit(next)
      }
    } finally {
      this.#emitting = false
    }
  }

  #pause(): void {
    if (this.#paused) return
    this.#paused = true
    this.#consumer?.pause()
  }
}
