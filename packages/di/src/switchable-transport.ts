/**
 * `SwitchableTransport`: a `Transport` that delegates to one broker's transport at a time and can
 * move everything to another one while the app runs, losing nothing either broker confirmed.
 *
 * The app's `Bus` sits on this object, so services keep their `BUS` and handlers while the broker
 * underneath changes. `switchTo(next)` runs the switch in a fixed order (see {@link SwitchReport}):
 *
 * 1. connect `next` and provision on it every group subscribed here (plus any `provision` given),
 *    so a message published to `next` from now on is kept for every group;
 * 2. attach every live subscription to `next` as well and wait until each is ready;
 * 3. **the publish moment**: from here on `publish()` goes to `next` only; publishes already
 *    handed to the old transport finish there (and are forwarded in step 5);
 * 4. retire the old subscriptions: new deliveries from the old broker are withheld (left
 *    unsettled), deliveries already given to handlers are waited for, then the old consumers
 *    detach, so whatever they did not settle goes back to the old broker's group queue;
 * 5. forward: consume each group's queue on the old broker and publish every message to `next`,
 *    acking it on the old broker only after `next` confirmed the publish; stop once the queue is
 *    empty (idle and, where the broker reports it, no lag);
 * 6. close the old transport.
 *
 * A failure before step 3 undoes steps 1–2 and leaves everything on the old transport. This module
 * knows nothing about etcd, documents or locks (see `live-switch.ts`).
 */

import type {
  Capabilities,
  CloseOptions,
  Delivery,
  HealthReport,
  NackOptions,
  OutgoingMessage,
  ProvisionOptions,
  SubscribeOptions,
  Transport,
  TransportStatus,
} from '@switchyard/core'
import { TimeoutError, TransportClosedError } from '@switchyard/core'
import { BehaviorSubject, Observable, type Subscriber, type Subscription, switchMap } from 'rxjs'

/** Options of {@link SwitchableTransport.switchTo}. */
export interface SwitchOptions {
  /**
   * Groups to provision on the new transport before anything is published to it, per topic, in
   * addition to the groups subscribed in this process: the groups of *other* services that consume
   * what this process publishes. Without them, a RabbitMQ group queue that does not exist yet (or a
   * new Kafka group) would not keep what is published before its own service switches.
   */
  readonly provision?: Readonly<Record<string, readonly string[]>>
  /** Longest wait for the new transport to connect, provision and have its subscriptions ready (default 30,000 ms); longer aborts the switch. */
  readonly readyTimeoutMs?: number
  /** Longest wait for handlers to settle what they hold from the old broker (default 10,000 ms). */
  readonly drainTimeoutMs?: number
  /** Longest the forwarding of the old queues may run (default 60,000 ms); what is left stays on the old broker. */
  readonly forwardTimeoutMs?: number
  /** A group's old queue counts as empty after this long without a delivery, with no lag reported (default 1,000 ms). */
  readonly forwardIdleMs?: number
  /**
   * Called once the old subscriptions are detached (step 4), before forwarding starts: from then on
   * this process neither publishes to nor handles from the old broker. `live-switch.ts` releases
   * the instances' lock here, so the next instance can switch while this one forwards.
   */
  readonly onRetired?: () => void
}

/** What a switch did, for the app's `transport-switched` event. */
export interface SwitchReport {
  readonly from: string
  readonly to: string
  /** When `publish()` started going to the new transport (ms since the epoch). */
  readonly publishMovedAt: number
  /** From the start of the switch to the old transport closed, in ms. */
  readonly durationMs: number
  /** Messages moved from the old broker's group queues to the new broker. */
  readonly forwarded: number
  /**
   * Deliveries a handler still held unsettled when the old subscriptions detached (drain timeout):
   * they go back to the old broker and are forwarded, so a handler may see them twice. Redeliveries
   * of a Kafka group rebalance (members joining and leaving while instances switch) are not counted
   * here; see the README.
   */
  readonly possibleDuplicates: number
  /** Groups whose old queue was not empty when `forwardTimeoutMs` ran out (messages stay on the old broker). */
  readonly leftBehind: readonly { readonly topic: string; readonly group: string }[]
}

interface Inner {
  readonly transport: Transport
  readonly ready: Promise<void>
  subscription: Subscription | undefined
  /** False once retiring: deliveries are withheld (left unsettled) from then on. */
  passing: boolean
  retiring: boolean
  /** Deliveries handed downstream whose settle has not completed yet. */
  readonly unsettled: Set<Delivery>
  onSettled: (() => void) | undefined
}

interface Stream {
  readonly topic: string
  readonly options: SubscribeOptions
  readonly subscriber: Subscriber<Delivery>
  readonly inners: Inner[]
  readyFired: boolean
}

const noop = (): void => undefined

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(what, ms)), ms)
  })
  return Promise.race([promise, bound]).finally(() => clearTimeout(timer))
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** The message a delivery carries, as an `OutgoingMessage` with the same id, key, headers and bytes. */
function outgoing(delivery: Delivery): OutgoingMessage {
  const m = delivery.message
  return {
    topic: m.topic,
    payload: m.payload,
    id: m.id,
    timestamp: m.timestamp,
    headers: m.headers,
    ...(m.key === undefined ? {} : { key: m.key }),
  }
}

/**
 * A transport whose broker can be replaced while it runs. Built by `configure()` when the
 * `liveSwitch` option is on; reach it as `app.transport`. See the module comment for the order of a switch.
 */
export class SwitchableTransport implements Transport {
  readonly #current$: BehaviorSubject<Transport>
  readonly #streams = new Set<Stream>()
  /** Publishes not yet settled, per transport they went to. */
  readonly #publishing = new Map<Transport, Set<Promise<void>>>()
  /** Transports being retired by a switch (for `whenDetached` and `close`). */
  readonly #retiring = new Set<Transport>()
  #switching: Promise<unknown> = Promise.resolve()
  #closed = false
  readonly status$: Observable<TransportStatus>

  constructor(initial: Transport) {
    this.#current$ = new BehaviorSubject(initial)
    this.status$ = this.#current$.pipe(switchMap((t) => t.status$))
  }

  /** The transport `publish()` goes to now. */
  get current(): Transport {
    return this.#current$.value
  }

  get kind(): string {
    return this.current.kind
  }

  get capabilities(): Capabilities {
    return this.current.capabilities
  }

  connect(): Promise<void> {
    return this.current.connect()
  }

  publish(messages: readonly OutgoingMessage[]): Promise<void> {
    if (this.#closed) return Promise.reject(new TransportClosedError('publish'))
    const target = this.current
    const promise = target.publish(messages)
    const pending = this.#publishing.get(target) ?? new Set<Promise<void>>()
    this.#publishing.set(target, pending)
    const tracked = promise.then(noop, noop)
    pending.add(tracked)
    void tracked.then(() => pending.delete(tracked))
    return promise
  }

  provision(topic: string, options?: ProvisionOptions): Promise<void> {
    return this.current.provision(topic, options)
  }

  deprovision(topic: string, options?: ProvisionOptions): Promise<void> {
    return this.current.deprovision(topic, options)
  }

  subscribe(topic: string, options: SubscribeOptions = {}): Observable<Delivery> {
    return new Observable<Delivery>((subscriber) => {
      const stream: Stream = { topic, options, subscriber, inners: [], readyFired: false }
      this.#streams.add(stream)
      this.#attach(stream, this.current)
      return () => {
        this.#streams.delete(stream)
        for (const inner of stream.inners) inner.subscription?.unsubscribe()
        stream.inners.length = 0
      }
    })
  }

  async whenDetached(): Promise<void> {
    const all = new Set([this.current, ...this.#retiring])
    await Promise.all([...all].map((t) => t.whenDetached?.()))
  }

  health(): Promise<HealthReport> {
    return this.current.health()
  }

  /** Closes the transport in use; a switch in progress gets up to `timeoutMs` to finish first, then its transports close too. */
  async close(options?: CloseOptions): Promise<void> {
    this.#closed = true
    let timer: NodeJS.Timeout | undefined
    const bound = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, options?.timeoutMs ?? 10_000)
    })
    await Promise.race([this.#switching.catch(noop), bound])
    clearTimeout(timer)
    await Promise.all([...this.#retiring].map((t) => t.close({ drain: false }).catch(noop)))
    await this.current.close(options)
    this.#current$.complete()
  }

  /**
   * Moves to `next` (see the module comment for the order). Switches run one at a time. Rejects,
   * with the old transport still in use and `next` closed, if `next` cannot connect, provision or
   * get its subscriptions ready; after the publish moment it always resolves, reporting in
   * `leftBehind` what could not be forwarded in time.
   */
  switchTo(next: Transport, options: SwitchOptions = {}): Promise<SwitchReport> {
    const run = this.#switching.catch(noop).then(() => this.#switch(next, options))
    this.#switching = run
    return run
  }

  async #switch(next: Transport, options: SwitchOptions): Promise<SwitchReport> {
    if (this.#closed) throw new TransportClosedError('switch transport')
    const started = Date.now()
    const old = this.current
    const streams = [...this.#streams]
    const attached: { stream: Stream; inner: Inner }[] = []
    try {
      const readyMs = options.readyTimeoutMs ?? 30_000
      const deadline = Date.now() + readyMs
      const bounded = <T>(step: Promise<T>, what: string) =>
        withTimeout(step, Math.max(1, deadline - Date.now()), `${what} on the new ${next.kind} transport`)
      await bounded(next.connect(), 'Connecting')
      for (const [topic, groups] of this.#groupsToProvision(streams, options.provision)) {
        await bounded(next.provision(topic, { groups: [...groups] }), `Provisioning ${topic}`)
      }
      for (const stream of streams) attached.push({ stream, inner: this.#attach(stream, next) })
      await bounded(Promise.all(attached.map((a) => a.inner.ready)), 'Subscribing')
      if (this.#closed) throw new TransportClosedError('switch transport')
    } catch (error) {
      for (const { stream, inner } of attached) this.#detach(stream, inner)
      await next.close({ drain: false }).catch(noop)
      throw error
    }

    // The publish moment.
    this.#retiring.add(old)
    this.#current$.next(next)
    const publishMovedAt = Date.now()
    await Promise.all(this.#publishing.get(old) ?? [])
    this.#publishing.delete(old)

    // Retire the old subscriptions: withhold, drain what handlers hold, detach.
    const drainMs = options.drainTimeoutMs ?? 10_000
    let possibleDuplicates = 0
    const retired = streams.flatMap((stream) =>
      stream.inners.filter((i) => i.transport === old).map((inner) => ({ stream, inner })),
    )
    for (const { inner } of retired) {
      inner.passing = false
      inner.retiring = true
    }
    await Promise.all(retired.map(({ inner }) => this.#settled(inner, drainMs)))
    for (const { stream, inner } of retired) {
      possibleDuplicates += inner.unsettled.size
      this.#detach(stream, inner)
    }
    await old.whenDetached?.()
    options.onRetired?.()

    const forward = await this.#forward(old, next, streams, options)
    await old.close({ drain: true, timeoutMs: drainMs }).catch(noop)
    this.#retiring.delete(old)
    return {
      from: old.kind,
      to: next.kind,
      publishMovedAt,
      durationMs: Date.now() - started,
      forwarded: forward.forwarded,
      possibleDuplicates,
      leftBehind: forward.leftBehind,
    }
  }

  #groupsToProvision(
    streams: readonly Stream[],
    extra: Readonly<Record<string, readonly string[]>> | undefined,
  ): Map<string, Set<string>> {
    const byTopic = new Map<string, Set<string>>()
    const add = (topic: string, group: string) => {
      const groups = byTopic.get(topic) ?? new Set<string>()
      byTopic.set(topic, groups)
      groups.add(group)
    }
    for (const s of streams) if (s.options.group !== undefined) add(s.topic, s.options.group)
    for (const [topic, groups] of Object.entries(extra ?? {})) for (const g of groups) add(topic, g)
    return byTopic
  }

  /** Subscribes `stream` on `transport`; deliveries pass downstream, tracked until settled. */
  #attach(stream: Stream, transport: Transport): Inner {
    let resolveReady = noop
    const ready = new Promise<void>((resolve) => {
      resolveReady = resolve
    })
    const inner: Inner = {
      transport,
      ready,
      subscription: undefined,
      passing: true,
      retiring: false,
      unsettled: new Set(),
      onSettled: undefined,
    }
    stream.inners.push(inner)
    const options: SubscribeOptions = {
      ...stream.options,
      onReady: () => {
        resolveReady()
        if (!stream.readyFired) {
          stream.readyFired = true
          stream.options.onReady?.()
        }
      },
    }
    inner.subscription = transport.subscribe(stream.topic, options).subscribe({
      next: (delivery) => {
        if (!inner.passing) return // withheld: left unsettled, it goes back to the old broker
        stream.subscriber.next(this.#track(inner, delivery))
      },
      error: (error: unknown) => {
        if (!inner.retiring) stream.subscriber.error(error)
      },
      complete: () => {
        if (!inner.retiring) stream.subscriber.complete()
      },
    })
    return inner
  }

  #detach(stream: Stream, inner: Inner): void {
    inner.retiring = true
    inner.passing = false
    inner.subscription?.unsubscribe()
    inner.subscription = undefined
    const at = stream.inners.indexOf(inner)
    if (at >= 0) stream.inners.splice(at, 1)
  }

  /** A delivery whose settle is counted, so a switch can wait for handlers to finish with the old broker. */
  #track(inner: Inner, delivery: Delivery): Delivery {
    const settle = (promise: Promise<void>): Promise<void> => {
      const done = () => {
        inner.unsettled.delete(tracked)
        if (inner.unsettled.size === 0) inner.onSettled?.()
      }
      promise.then(done, done)
      return promise
    }
    const tracked: Delivery = {
      message: delivery.message,
      get settled() {
        return delivery.settled
      },
      ack: () => settle(delivery.ack()),
      nack: (options?: NackOptions) => settle(delivery.nack(options)),
    }
    inner.unsettled.add(tracked)
    return tracked
  }

  /** Resolves when `inner` holds no unsettled delivery, or after `timeoutMs`. */
  async #settled(inner: Inner, timeoutMs: number): Promise<void> {
    if (inner.unsettled.size === 0) return
    await withTimeout(
      new Promise<void>((resolve) => {
        inner.onSettled = resolve
      }),
      timeoutMs,
      'Draining handlers on the old transport',
    ).catch(noop)
    inner.onSettled = undefined
  }

  /** Moves what is queued for each subscribed group on `old` to `next` (ack on old after next confirmed). */
  async #forward(
    old: Transport,
    next: Transport,
    streams: readonly Stream[],
    options: SwitchOptions,
  ): Promise<{ forwarded: number; leftBehind: { topic: string; group: string }[] }> {
    const pairs = new Map<string, { topic: string; group: string }>()
    for (const s of streams) {
      if (s.options.group !== undefined)
        pairs.set(`${s.topic}\u0000${s.options.group}`, { topic: s.topic, group: s.options.group })
    }
    const deadline = Date.now() + (options.forwardTimeoutMs ?? 60_000)
    const idleMs = options.forwardIdleMs ?? 1_000
    const results = await Promise.all(
      [...pairs.values()].map((pair) => this.#forwardGroup(old, next, pair, deadline, idleMs)),
    )
    return {
      forwarded: results.reduce((sum, r) => sum + r.forwarded, 0),
      leftBehind: results.filter((r) => !r.empty).map((r) => r.pair),
    }
  }

  async #forwardGroup(
    old: Transport,
    next: Transport,
    pair: { topic: string; group: string },
    deadline: number,
    idleMs: number,
  ): Promise<{ forwarded: number; empty: boolean; pair: { topic: string; group: string } }> {
    let forwarded = 0
    let lastDelivery = Date.now()
    let inFlight = 0
    let failed: unknown
    let ready = false
    const onReady = () => {
      ready = true
      lastDelivery = Date.now()
    }
    const subscription = old.subscribe(pair.topic, { group: pair.group, inFlight: 256, onReady }).subscribe({
      next: (delivery) => {
        lastDelivery = Date.now()
        inFlight++
        next.publish([outgoing(delivery)]).then(
          async () => {
            await delivery.ack().catch(noop) // unacked: comes again, forwarded twice at worst
            forwarded++
            inFlight--
            lastDelivery = Date.now()
          },
          async () => {
            await delivery.nack({ requeue: true }).catch(noop)
            inFlight--
          },
        )
      },
      error: (error: unknown) => {
        failed = error
      },
    })
    let empty = false
    try {
      while (Date.now() < deadline && failed === undefined) {
        await sleep(Math.min(100, idleMs))
        if (!ready || inFlight > 0 || Date.now() - lastDelivery < idleMs) continue
        const health = await old.health().catch(() => undefined)
        const lag = health?.subscriptions.find((s) => s.topic === pair.topic && s.group === pair.group)?.lag
        if (lag === undefined || lag === 0) {
          empty = true
          break
        }
      }
    } finally {
      subscription.unsubscribe()
      await old.whenDetached?.()
    }
    return { forwarded, empty, pair }
  }
}
