/**
 * `deriveTransport`: the one function that turns a {@link TransportDriver} into a full
 * {@link Transport}, so that every broker shares the same policy, written once.
 *
 * The derived transport validates topics, groups and subscribe options with one set of limits,
 * checks message sizes against `capabilities.maxMessageBytes`, connects with backoff and reports
 * `status$`, enforces each subscription's in-flight limit by pausing the driver's consumer,
 * hands out settle-once deliveries, holds keys back where the driver does not, holds delayed
 * redeliveries in this process where the broker cannot, coalesces `publish` calls made while a
 * send is in flight into the next driver batch (`PublishBatcher`), drains on `close()` (acks made
 * during the drain reach the broker before any consumer stops), flushes or rejects by name every
 * publish accepted before `close()`, and completes streams when closed on purpose. The driver
 * only maps the broker (see `driver.ts`); this module never asks which broker it is.
 */
import { asyncScheduler, Observable, type SchedulerLike } from 'rxjs'
import { DerivedSubscription, type SubscriptionHost } from './derived-subscription.js'
import type { ConsumeSpec, TransportDriver } from './driver.js'
import { type BackoffOptions, DriverConnection, driverError } from './driver-connection.js'
import { CapabilityError, ConfigError, TransportClosedError } from './errors.js'
import { InFlightTracker } from './in-flight-tracker.js'
import type { Delivery, OutgoingMessage } from './message.js'
import { MessageChecks } from './message-checks.js'
import { PublishBatcher, type PublishBatchOptions, resolveBatchOptions } from './publish-batcher.js'
import { settleWatch, type WatchedSubscribeOptions } from './settle-watch.js'
import { StatusSubject } from './status-subject.js'
import { validateGroup, validateTopic } from './topic.js'
import type {
  Capabilities,
  CloseOptions,
  HealthReport,
  Inspection,
  InspectOptions,
  ProvisionOptions,
  SubscribeOptions,
  Transport,
  TransportStatus,
} from './transport.js'

/** Default `SubscribeOptions.inFlight`. */
export const defaultInFlight = 64
/** Largest `SubscribeOptions.inFlight` any transport accepts (RabbitMQ's prefetch is 16 bits). */
export const maxInFlight = 65_535
/** Default `CloseOptions.timeoutMs`. */
export const defaultDrainTimeoutMs = 10_000
/**
 * Default {@link DeriveOptions.connectTimeoutMs}: under 5 s, so an unreachable broker is reported
 * within the 5 s the contract suite allows, with room for the attempt's own bookkeeping.
 */
export const defaultConnectTimeoutMs = 4_000

/**
 * Options of {@link deriveTransport}. None is broker-specific. The publish batching options
 * (`maxBatchMessages`, `maxBatchBytes`, `lingerMs`, `maxQueuedMessages`, `whenFull`) are
 * described on {@link PublishBatchOptions}.
 */
export interface DeriveOptions extends PublishBatchOptions {
  /**
   * Runs every timer of the derived transport: the process-held delay, reconnect backoff, the
   * connect timeout and the drain timeout of `close` (default `asyncScheduler`). Tests pass a
   * virtual-time scheduler.
   */
  readonly scheduler?: SchedulerLike
  /**
   * How long `connect()` and a `publish` waiting for the connection wait before rejecting with
   * `BrokerUnavailableError`, and after how long an unanswered attempt shows as `reconnecting`
   * (default 4,000 ms). Subscriptions keep waiting while retries go on.
   */
  readonly connectTimeoutMs?: number
  /** Wait between connection attempts. */
  readonly backoff?: BackoffOptions
  /**
   * Where the driver does not keep key order (`features.keyOrder: false`), how many deliveries
   * beyond `inFlight` a subscription may take from the broker and hold back behind a busy key, so
   * one slow key does not stall the others (default: `inFlight`, i.e. a broker window of twice
   * `inFlight`). The stream itself never has more than `inFlight` unsettled deliveries.
   */
  readonly holdBack?: (inFlight: number) => number
  /**
   * What `subscribe` uses for an option a call leaves out, instead of the core's default: an
   * adapter's `prefetch` option as the default `inFlight`, or its `fromBeginning` option as the
   * default of subscriptions with a group (new groups replay from the start). Validated as the
   * call's own options are.
   */
  readonly subscribeDefaults?: SubscribeDefaults
}

/** See {@link DeriveOptions.subscribeDefaults}. */
export interface SubscribeDefaults {
  /** Default `SubscribeOptions.inFlight` (else {@link defaultInFlight}). */
  readonly inFlight?: number
  /** Default `SubscribeOptions.fromBeginning` of subscriptions with a group (else `false`). */
  readonly fromBeginning?: boolean
}

/**
 * The connection settings an adapter's own options carry (its connect timeout and reconnect
 * backoff), as {@link DeriveOptions}: what `runtime` sets wins; the connect timeout is capped at
 * {@link defaultConnectTimeoutMs}, so an unreachable broker is still reported within 5 s (one
 * broker attempt may take the adapter's full timeout meanwhile).
 */
export function connectionDefaults(
  runtime: DeriveOptions,
  options: {
    readonly connectTimeoutMs: number
    readonly reconnect: {
      readonly initialDelayMs: number
      readonly maxDelayMs: number
      readonly factor: number
    }
  },
): DeriveOptions {
  return {
    ...runtime,
    connectTimeoutMs: runtime.connectTimeoutMs ?? Math.min(options.connectTimeoutMs, defaultConnectTimeoutMs),
    backoff: runtime.backoff ?? {
      initialMs: options.reconnect.initialDelayMs,
      maxMs: options.reconnect.maxDelayMs,
      factor: options.reconnect.factor,
    },
  }
}

/**
 * A {@link Transport} derived from a driver, plus what only a derived transport offers.
 *
 * **Details:** `whenDetached()` resolves once every subscription that was unsubscribed (or ended)
 * has fully detached: settles it started reached the broker and the driver's consumer stopped.
 * Unsubscribing an rxjs `Subscription` is synchronous; await this to know the broker saw it.
 */
export interface DerivedTransport extends Transport {
  deprovision(topic: string, options?: ProvisionOptions): Promise<void>
  /** Resolves once every subscription unsubscribed so far has fully detached (see above). Never rejects. */
  whenDetached(): Promise<void>
}

/**
 * Derives a full {@link Transport} from a driver of broker primitives.
 *
 * **When to use**: in an adapter's constructor or factory; the adapter implements only
 * {@link TransportDriver}. See `packages/core/ADAPTERS.md`.
 *
 * @example
 * export class MyTransport {
 *   static create(options: MyOptions): DerivedTransport {
 *     return deriveTransport(new MyDriver(options))
 *   }
 * }
 */
export function deriveTransport(driver: TransportDriver, options: DeriveOptions = {}): DerivedTransport {
  return new DriverTransport(driver, options)
}

/** The class behind {@link deriveTransport}; adapters may extend it to add an escape hatch. */
export class DriverTransport implements DerivedTransport {
  /** The driver's kind: for logs and metrics, never for branching. */
  readonly kind: string
  /** The driver's capabilities, frozen. */
  readonly capabilities: Capabilities
  /** Current status first (replayed to each subscriber), then every change; completes after `closed`. */
  readonly status$: Observable<TransportStatus>

  readonly #driver: TransportDriver
  readonly #status = new StatusSubject()
  readonly #connection: DriverConnection
  readonly #checks: MessageChecks
  readonly #host: SubscriptionHost
  readonly #subscriptions = new Set<DerivedSubscription>()
  readonly #detaching = new Set<Promise<void>>()
  readonly #publishes: PublishBatcher
  readonly #holdBack: (inFlight: number) => number
  readonly #defaults: SubscribeDefaults
  #closing: Promise<void> | undefined
  /** Settling rejects and new work is refused from here on. */
  #closed = false

  constructor(driver: TransportDriver, options: DeriveOptions = {}) {
    this.#driver = driver
    this.kind = driver.kind
    this.capabilities = Object.freeze({ ...driver.capabilities })
    this.status$ = this.#status.status$
    this.#holdBack = driver.features.keyOrder ? () => 0 : (options.holdBack ?? ((inFlight) => inFlight))
    this.#defaults = options.subscribeDefaults ?? {}
    const scheduler = options.scheduler ?? asyncScheduler
    const connectTimeoutMs = options.connectTimeoutMs ?? defaultConnectTimeoutMs
    if (!(Number.isFinite(connectTimeoutMs) && connectTimeoutMs > 0)) {
      throw this.#optionError(
        'transport options',
        'connectTimeoutMs',
        'must be a number > 0',
        connectTimeoutMs,
      )
    }
    this.#connection = new DriverConnection(
      driver,
      this.#status,
      scheduler,
      connectTimeoutMs,
      options.backoff ?? {},
    )
    this.#checks = new MessageChecks(driver.kind, driver.capabilities.maxMessageBytes)
    const connection = this.#connection
    this.#publishes = new PublishBatcher(
      {
        kind: driver.kind,
        scheduler,
        connectTimeoutMs,
        connected: (timeoutMs) => connection.ensure(timeoutMs),
        send: (messages) => driver.publish(messages),
        wrap: (error) => driverError(driver.kind, error, 'publish'),
        windows: publishWindows(driver),
      },
      resolveBatchOptions(driver.kind, options),
    )
    this.#host = {
      driver,
      scheduler,
      inFlight: new InFlightTracker(),
      isClosed: () => this.#closed,
      connected: () => this.#connection.ensure(),
      forget: (subscription) => {
        this.#subscriptions.delete(subscription)
      },
    }
    if (driver.inspect !== undefined) this.inspect = (options) => this.#inspect(options ?? {})
  }

  /** Connects, or rejects with `BrokerUnavailableError` after the connect timeout (retries go on). */
  connect(): Promise<void> {
    if (this.#closing !== undefined) return Promise.reject(this.#closedError('connect'))
    return this.#connection.ensureBounded() ?? Promise.resolve()
  }

  /**
   * Checks the whole call, then hands it to the publish batcher: sent at once when nothing is in
   * flight, else coalesced into the next driver batch (see `PublishBatcher`). Allowed while a
   * drain runs (handlers may publish); a publish still pending when `close()` gives up is rejected
   * with `TransportClosedError`.
   */
  publish(messages: readonly OutgoingMessage[]): Promise<void> {
    if (!Array.isArray(messages)) {
      return Promise.reject(
        new ConfigError('publish arguments', ['messages must be an array of messages'], {
          context: { transport: this.kind, operation: 'publish', field: 'messages' },
        }),
      )
    }
    if (this.#closed) return Promise.reject(this.#closedError('publish', messages[0]?.topic))
    let bytes: number
    try {
      bytes = this.#checks.check(messages)
      if (messages.length > 0) this.#driver.checkPublish?.(messages)
    } catch (error) {
      return Promise.reject(error)
    }
    if (messages.length === 0) return Promise.resolve()
    return this.#publishes.publish(messages, bytes)
  }

  /** Validates, then creates the topic and groups at the broker. */
  async provision(topic: string, options: ProvisionOptions = {}): Promise<void> {
    const groups = this.#checkTopology(topic, options, 'provision')
    await this.#connected()
    await this.#call('provision', () => this.#driver.provision(topic, groups ?? []))
  }

  /** Validates, then deletes the topic's groups (and, without `groups`, the topic) at the broker. */
  async deprovision(topic: string, options: ProvisionOptions = {}): Promise<void> {
    const groups = this.#checkTopology(topic, options, 'deprovision')
    await this.#connected()
    await this.#call('deprovision', () => this.#driver.deprovision(topic, groups))
  }

  /**
   * A cold stream of deliveries over one driver consumer. Bad arguments error the stream with
   * `InvalidTopicError`, `ConfigError` or `CapabilityError`; a closed transport with
   * `TransportClosedError`. A deliberate `close()` completes it. Unsubscribing gives unsettled
   * deliveries back to the broker; await {@link whenDetached} to know it has happened.
   */
  subscribe(topic: string, options: SubscribeOptions = {}): Observable<Delivery> {
    return new Observable<Delivery>((subscriber) => {
      if (this.#closing !== undefined) {
        subscriber.error(this.#closedError('subscribe', topic))
        return
      }
      let spec: ConsumeSpec
      try {
        spec = this.#checkSubscribe(topic, options)
      } catch (error) {
        subscriber.error(error)
        return
      }
      const inFlight = spec.prefetch
      const window = Math.min(maxInFlight, inFlight + Math.max(0, Math.floor(this.#holdBack(inFlight))))
      const subscription = new DerivedSubscription(
        this.#host,
        topic,
        { ...spec, prefetch: window },
        inFlight,
        subscriber,
        options.onReady,
        (options as WatchedSubscribeOptions)[settleWatch],
      )
      this.#subscriptions.add(subscription)
      subscription.start()
      return () => {
        const detaching = subscription.stop(false)
        this.#detaching.add(detaching)
        const forget = (): void => {
          this.#detaching.delete(detaching)
        }
        detaching.then(forget, forget)
      }
    })
  }

  /**
   * Topics and groups with lag or depth; see {@link Transport.inspect}. Present exactly when the
   * driver implements `inspect`.
   */
  readonly inspect?: (options?: InspectOptions) => Promise<Inspection>

  /** Resolves once every subscription unsubscribed so far has fully detached. */
  async whenDetached(): Promise<void> {
    while (this.#detaching.size > 0) await Promise.allSettled([...this.#detaching])
  }

  /**
   * A snapshot; never rejects for an outage, reports `down`/`closed` after close. Like every
   * method, a first call connects (in the background; the report shows how far it got).
   */
  async health(): Promise<HealthReport> {
    if (this.#closing === undefined) this.#connection.ensure()?.catch(() => undefined)
    const state = this.#status.state
    const subscriptions = await Promise.all([...this.#subscriptions].map((s) => s.health()))
    let details: Readonly<Record<string, unknown>> = {}
    try {
      details = (await this.#driver.health?.()) ?? {}
    } catch (error) {
      details = { healthError: driverError(this.kind, error, 'health').message }
    }
    const status =
      state === 'connected' ? 'up' : state === 'reconnecting' || state === 'rebalancing' ? 'degraded' : 'down'
    const error =
      this.#status.current.error?.message ?? (status === 'up' ? undefined : `the transport is ${state}`)
    return {
      status,
      kind: this.kind,
      state,
      subscriptions,
      publishBuffered: this.#publishes.buffered,
      details,
      ...(error === undefined ? {} : { error }),
    }
  }

  /**
   * Closes once; concurrent calls share the promise. With `drain` (default): no new deliveries,
   * wait up to `timeoutMs` for unsettled ones, await their settles, stop every consumer, wait (same
   * bound) for accepted publishes, reject the rest with `TransportClosedError`, close the driver,
   * complete every stream. Without `drain` the waits are skipped.
   */
  close(options: CloseOptions = {}): Promise<void> {
    if (this.#closing !== undefined) return this.#closing
    const drain = options.drain ?? true
    const timeoutMs = options.timeoutMs ?? defaultDrainTimeoutMs
    if (typeof drain !== 'boolean') {
      return Promise.reject(this.#optionError('close options', 'drain', 'must be a boolean', drain))
    }
    if (!(Number.isFinite(timeoutMs) && timeoutMs >= 0)) {
      return Promise.reject(
        this.#optionError('close options', 'timeoutMs', 'must be a number >= 0', timeoutMs),
      )
    }
    this.#closing = this.#close(drain, timeoutMs)
    return this.#closing
  }

  async #close(drain: boolean, timeoutMs: number): Promise<void> {
    const started = this.#host.scheduler.now()
    this.#status.set('closing')
    const subscriptions = [...this.#subscriptions]
    for (const subscription of subscriptions) subscription.hold()
    if (drain) await this.#host.inFlight.whenIdle(timeoutMs, this.#host.scheduler)
    this.#closed = true
    // Settles made so far are awaited inside `stop` before each consumer stops.
    await Promise.allSettled(subscriptions.map((s) => s.stop(true)))
    await this.whenDetached()
    if (drain) {
      const left = Math.max(0, timeoutMs - (this.#host.scheduler.now() - started))
      await this.#publishes.whenIdle(left)
    }
    this.#publishes.rejectAll(this.#closedError('publish'))
    this.#connection.close()
    try {
      await this.#driver.close()
    } catch {
      // A driver's close must resolve; nothing is left that could be lost here.
    }
    this.#status.set('closed')
  }

  async #inspect(options: InspectOptions): Promise<Inspection> {
    if (options.topic !== undefined) this.#checkTopology(options.topic, options, 'inspect')
    else if (this.#closing !== undefined) throw this.#closedError('inspect')
    else for (const group of options.groups ?? []) validateGroup(group)
    await this.#connected()
    const at = Date.now()
    try {
      const found = await (this.#driver.inspect as NonNullable<TransportDriver['inspect']>)(options)
      return { ...found, at }
    } catch (error) {
      throw driverError(this.kind, error, 'inspect')
    }
  }

  #connected(): Promise<void> {
    return this.#connection.ensureBounded() ?? Promise.resolve()
  }

  async #call(operation: string, run: () => Promise<void>): Promise<void> {
    try {
      await run()
    } catch (error) {
      throw driverError(this.kind, error, operation)
    }
  }

  #checkTopology(topic: string, options: ProvisionOptions, operation: string): readonly string[] | undefined {
    if (this.#closing !== undefined) throw this.#closedError(operation, topic)
    validateTopic(topic, { allowPatterns: this.capabilities.patterns })
    const groups = options.groups
    if (groups === undefined) return undefined
    if (!Array.isArray(groups)) {
      throw this.#optionError(`${operation} options`, 'groups', 'must be an array of group names', groups)
    }
    for (const group of groups) validateGroup(group)
    return groups
  }

  #checkSubscribe(topic: string, options: SubscribeOptions): ConsumeSpec {
    validateTopic(topic, { allowPatterns: this.capabilities.patterns })
    const what = 'subscribe options'
    const group = options.group === undefined ? undefined : validateGroup(options.group)
    const inFlight = options.inFlight ?? this.#defaults.inFlight ?? defaultInFlight
    if (!(Number.isSafeInteger(inFlight) && inFlight >= 1 && inFlight <= maxInFlight)) {
      throw this.#optionError(what, 'inFlight', `must be an integer from 1 to ${maxInFlight}`, inFlight)
    }
    const fromBeginning =
      options.fromBeginning ?? (group === undefined ? undefined : this.#defaults.fromBeginning) ?? false
    if (typeof fromBeginning !== 'boolean')
      throw this.#optionError(what, 'fromBeginning', 'must be a boolean', fromBeginning)
    if (fromBeginning && !this.capabilities.replay) {
      throw new CapabilityError(this.kind, 'replay (`fromBeginning`)', {
        context: { field: 'fromBeginning' },
      })
    }
    const ordered = options.ordered ?? false
    if (typeof ordered !== 'boolean') throw this.#optionError(what, 'ordered', 'must be a boolean', ordered)
    if (options.onReady !== undefined && typeof options.onReady !== 'function') {
      throw this.#optionError(what, 'onReady', 'must be a function', options.onReady)
    }
    return { group, prefetch: inFlight, ordered, fromBeginning }
  }

  #closedError(operation: string, topic?: string): TransportClosedError {
    return new TransportClosedError(operation, {
      context: topic === undefined ? { transport: this.kind } : { transport: this.kind, topic },
    })
  }

  #optionError(what: string, field: string, rule: string, value: unknown): ConfigError {
    return new ConfigError(what, [`${field} ${rule}, got ${String(value)}`], {
      context: { transport: this.kind, field },
    })
  }
}

/** The driver's `features.publishWindows`, checked: an integer >= 1 (default 1). */
function publishWindows(driver: TransportDriver): number {
  const windows = driver.features.publishWindows ?? 1
  if (!(Number.isSafeInteger(windows) && windows >= 1)) {
    throw new ConfigError(
      'driver features',
      [`publishWindows must be an integer >= 1, got ${String(windows)}`],
      {
        context: { transport: driver.kind, field: 'publishWindows' },
      },
    )
  }
  return windows
}
