/**
 * The driver SPI: the broker primitives an adapter implements so that `deriveTransport` can build
 * a full {@link Transport} from them.
 *
 * A driver maps one broker and nothing else. It does not validate names or options, count
 * in-flight deliveries, drain, make settling idempotent, report `status$` or retry connecting:
 * the derived transport does all of that once, the same way for every broker (see
 * `derive-transport.ts` and `packages/core/ADAPTERS.md`). Each member below states what the core
 * guarantees when it calls it and what the driver must guarantee in return; that text is the
 * contract. A driver declares what its broker does natively in {@link DriverFeatures}; the core
 * asks those flags and never the `kind`.
 */
import type { Observable } from 'rxjs'
import type { SwitchyardError } from './errors.js'
import type { Message, OutgoingMessage } from './message.js'
import type { Capabilities, Inspection, InspectOptions } from './transport.js'

/**
 * What the broker does by itself, so the core knows which fallbacks to run.
 *
 * **Details:** a flag that is `false` costs a core fallback, never a missing guarantee. The
 * derived transport's public {@link Capabilities} come from the driver; these flags only decide
 * who does the work.
 */
export interface DriverFeatures {
  /**
   * `true`: the driver never hands a consumer a message while an earlier message of the same key
   * is unsettled in that group (memory's per-key queues; Kafka's per-partition hold-back, which
   * the Kafka driver keeps because it is tied to committing offsets in order).
   * `false`: the driver hands out messages in broker order and the core holds later messages of a
   * key back, per subscription, until the earlier one is settled (RabbitMQ with a single active
   * consumer, a toy queue).
   */
  readonly keyOrder: boolean
  /**
   * `true`: {@link RawDelivery.delay} is implemented and the broker holds the message for the
   * delay (RabbitMQ TTL queues, memory's broker timers). `false`: the core holds a delayed
   * message in this process on its scheduler and redelivers it to the same subscription, leaving
   * it unsettled at the broker meanwhile (so a crash or unsubscribe returns it to the broker).
   * The delayed message frees its in-flight slot and, where the core holds keys back, its key, so
   * later messages (even of its key) flow meanwhile; it still counts against `prefetch`. A driver
   * with `keyOrder: true` keeps the key held at the broker while the message is unsettled.
   */
  readonly delay: boolean
  /**
   * How many `publish` batches the core may hand over before the first settled (default 1). Above
   * 1 only for a driver that puts concurrent batches onto the broker in call order, on one stream
   * the broker keeps in order (RabbitMQ: one confirm channel, several confirm windows), and that
   * settles each batch with its own messages' outcome; per-key order then holds across windows.
   */
  readonly publishWindows?: number
}

/** What the core asks of one consumer. Every field is already validated and defaulted. */
export interface ConsumeSpec {
  /** The group, or `undefined` for an ephemeral subscription that sees only new messages. */
  readonly group: string | undefined
  /**
   * Most unsettled raw deliveries this consumer should hold: the subscription's `inFlight`, plus
   * room to hold messages back behind busy keys where `features.keyOrder` is false. A broker with
   * a prefetch window uses it (RabbitMQ `basic.qos`); the core enforces it anyway by pausing the
   * consumer and buffering what still arrives.
   */
  readonly prefetch: number
  /** Per-key order was asked for (RabbitMQ: single active consumer on the group's queue). */
  readonly ordered: boolean
  /** A group created now starts at the oldest retained message. Only set when `capabilities.replay`. */
  readonly fromBeginning: boolean
}

/**
 * The answer of a broker call that may complete synchronously: a promise, or `undefined` when the
 * broker has already done it (an in-process broker), which spares the core a promise per call.
 */
export type Settled = Promise<void> | undefined

/**
 * A message as the broker handed it out, with its broker-side settlement.
 *
 * **Details:** the core calls at most one of `ack`, `reject`, `requeue`, `delay` per raw delivery,
 * at most once, and never after the consumer's `stop()` resolved or after `close()`. It awaits the
 * returned promise before it stops the consumer or closes the driver, so an ack made during a drain
 * reaches the broker. A settle the broker can no longer take (the channel is gone after a
 * reconnect) resolves without effect: the broker delivers the message again. Each method may
 * return `undefined` when the broker settled synchronously.
 */
export interface RawDelivery {
  /** The message; `attempt` counts deliveries of it to this group, starting at 1. */
  readonly message: Message
  /** Done with it: the group never receives it again (Kafka: commit once earlier offsets are settled). */
  ack(): Settled
  /** Drop it for this group without redelivery (`nack({ requeue: false })`). */
  reject(): Settled
  /** Deliver it again to the group with `attempt + 1`, ahead of later messages of its key where the broker can. */
  requeue(): Settled
  /**
   * Deliver it again with `attempt + 1` after `ms` (> 0), held by the broker. Present exactly
   * when `features.delay` is true.
   */
  delay?(ms: number): Settled
}

/** Where a consumer sends what it receives. Calls after `stop()` resolved are ignored by the core. */
export interface DeliverySink {
  /** A message for the subscription. May be called synchronously from inside `consume` or `resume`. */
  deliver(delivery: RawDelivery): void
  /** The consumer is attached: messages published from now on reach it. Call once. */
  ready(): void
  /**
   * The consumer cannot continue (its queue was deleted for good, a permission was revoked). The
   * core ends the stream with this error and calls `stop()`. Not for outages: those are
   * reported through {@link TransportDriver.events$} and recovered by the driver.
   */
  fail(error: SwitchyardError): void
}

/** Per-consumer facts for `health()`; fields the broker cannot tell are absent. */
export interface ConsumerHealth {
  readonly lag?: number
  readonly partitions?: readonly { readonly partition: number; readonly lag: number }[]
  readonly consumers?: number
}

/** One attached consumer, as returned by {@link TransportDriver.consume}. */
export interface DriverConsumer {
  /**
   * Stop fetching new messages (Kafka `pause`, RabbitMQ: cancel or rely on prefetch). The core
   * calls it when the subscription holds `prefetch` unsettled deliveries and buffers anything
   * that still arrives, so a driver may deliver a few more after it (a fetched batch).
   */
  pause(): void
  /** Fetch again after {@link pause}. The core calls `pause`/`resume` alternately, starting with `pause`. */
  resume(): void
  /**
   * Detaches for good: unsettled deliveries go back to the broker (delivered again, to this group's
   * other consumers or later ones); settling them afterwards does nothing. The core calls it once,
   * after awaiting the settles it already started. Must resolve (not reject) even during an outage.
   */
  stop(): Promise<void>
  /** Lag and similar facts for `health()`. */
  health?(): Promise<ConsumerHealth> | ConsumerHealth
}

/** Connection events a driver reports between `connect()` and `close()`. */
export type DriverEvent =
  /** The connection was lost. The core reports `reconnecting` and calls `connect()` again with backoff. */
  | { readonly type: 'disconnected'; readonly error: SwitchyardError }
  /**
   * Consumers are being reassigned (Kafka rebalance), or one is re-attaching while the connection
   * stays up (RabbitMQ: its queue was deleted); reported as `rebalancing`, with `error` (the why)
   * when given.
   */
  | { readonly type: 'rebalancing'; readonly error?: SwitchyardError }
  /** The rebalance is over; reported as `connected`. */
  | { readonly type: 'rebalanced' }

/**
 * The broker primitives behind a derived transport.
 *
 * **When to use**: to add a broker. Implement this, pass it to `deriveTransport`, and run the
 * contract suite on the result (see `packages/core/ADAPTERS.md`).
 *
 * **Details:** the core calls `connect()` before anything else and again after each
 * `disconnected` event; it never calls `publish`, `provision`, `deprovision` or `consume` while a
 * `connect()` is running or after `close()` was called. Every name it passes has been validated,
 * every message size-checked. Methods may reject with a `SwitchyardError`; other errors are
 * wrapped. A driver keeps its consumers across reconnects: after a successful `connect()` it
 * re-attaches them by itself (the handles stay valid).
 */
export interface TransportDriver {
  /** `memory`, `kafka`, …: for logs, metrics and error messages, never for branching. */
  readonly kind: string
  /** What the derived transport claims; the contract suite tests exactly this. */
  readonly capabilities: Capabilities
  /** What the broker does natively; the core runs a fallback for the rest. */
  readonly features: DriverFeatures
  /**
   * Outages and rebalances after the first successful `connect()`. Optional: a broker that cannot
   * fail (memory) has none. The core subscribes once and unsubscribes on close.
   */
  readonly events$?: Observable<DriverEvent>

  /**
   * One connection attempt. Reject with `BrokerUnavailableError` (retryable) or
   * `AuthenticationError` (not retried). The core bounds it with its connect timeout, retries with
   * backoff and reports the status; the driver must not retry by itself. May return `undefined`
   * when it completes synchronously (memory), so the first use need not wait a tick.
   */
  connect(): Promise<void> | undefined

  /**
   * Sends a batch (one or more topics, validated and size-checked) and resolves once the broker
   * has durably accepted all of it (RabbitMQ confirms, Kafka acks=-1). Order per key is kept.
   * Rejects if any message was not accepted; any subset may have been stored. Returns `undefined`
   * when the whole batch was stored synchronously (memory).
   *
   * The core calls it with one batch at a time (never again before the previous call settled),
   * or up to {@link DriverFeatures.publishWindows} batches at a time;
   * a batch may hold the messages of several `Transport.publish` calls, coalesced in call order
   * while the previous batch was in flight, so a rejection fails all of those calls.
   */
  publish(messages: readonly OutgoingMessage[]): Settled

  /**
   * Optional: throws (a `SwitchyardError`, e.g. `MessageTooLargeError`) for messages the broker
   * would refuse beyond what the core checks (RabbitMQ: a header table over 64 KiB). The core
   * calls it once per `Transport.publish` call, after its own checks and before coalescing, so a
   * bad call fails alone and never fails the batch it would have joined.
   */
  checkPublish?(messages: readonly OutgoingMessage[]): void

  /** Creates the topic (a pattern where `capabilities.patterns`) and the groups' queues/offsets. Idempotent. */
  provision(topic: string, groups: readonly string[]): Promise<void>

  /**
   * Deletes the topic's groups (`groups`, or every group it knows for the topic when `undefined`)
   * and, without `groups`, the topic itself. Idempotent.
   */
  deprovision(topic: string, groups: readonly string[] | undefined): Promise<void>

  /**
   * Attaches a consumer and returns its handle. It calls `sink.ready()` once attached and
   * `sink.deliver` for each message, in broker order. Rejects (or calls `sink.fail`) only when it
   * cannot consume at all (the topic does not exist and cannot be created); outages are not
   * failures.
   */
  consume(topic: string, spec: ConsumeSpec, sink: DeliverySink): Promise<DriverConsumer> | DriverConsumer

  /**
   * Optional: topics and groups with lag or depth, for `Transport.inspect` (present on the derived
   * transport exactly when the driver has it). The core validates `options.topic` and
   * `options.groups` and connects first. Read-only: must not create anything at the broker.
   */
  inspect?(options: InspectOptions): Promise<Omit<Inspection, 'at'>> | Omit<Inspection, 'at'>

  /** Facts for `health().details` (broker version, queue counts …); never credentials. */
  health?(): Promise<Readonly<Record<string, unknown>>> | Readonly<Record<string, unknown>>

  /**
   * Releases the connection. The core calls it once, after it stopped every consumer and settled
   * or rejected every publish it accepted, so nothing is left to flush. Must resolve.
   */
  close(): Promise<void>
}
