/**
 * The Transport SPI: the one interface every broker adapter implements.
 *
 * This module defines the operations and their meaning; `@switchyard/memory`, `@switchyard/kafka`
 * and `@switchyard/rabbitmq` only map them onto a broker. Applications normally use the `Bus`
 * (codecs, retry, dead-letter, timeouts) on top of a transport rather than the SPI directly.
 * Differences between brokers are stated here, on the member they affect, and declared at run
 * time through {@link Capabilities}; code that needs a feature checks the flag, never the kind.
 *
 * Semantics every transport keeps:
 * - Topics and groups: every group subscribed to a topic receives each message once (fan-out
 *   across groups); consumers of one group compete (work queue). A subscription without a group
 *   is an ephemeral broadcast that sees only messages published after it is ready.
 * - At-least-once: a delivery not settled when its subscription, process or connection ends is
 *   delivered again. Consumers must tolerate duplicates (dedupe by `message.id`).
 * - Backpressure: a subscription never holds more than `inFlight` unsettled deliveries; the
 *   broker is paused (Kafka `pause`, RabbitMQ prefetch) instead of buffering without bound.
 * - Recovery: after a broker restart the transport reconnects, recreates its topology and resumes
 *   every subscription; `status$` shows `reconnecting` meanwhile.
 */
import type { Observable } from 'rxjs'
import type { SwitchyardError } from './errors.js'
import type { Delivery, OutgoingMessage } from './message.js'

/** What a transport guarantees. The contract suite tests exactly what is claimed here. */
export interface Capabilities {
  /**
   * Messages with the same key reach a group in publish order, and a message is not delivered
   * while an earlier one with the same key is unsettled in that group.
   * Kafka: key → partition. RabbitMQ: only for `ordered` subscriptions (single active consumer).
   * Memory: per key.
   */
  readonly orderedByKey: boolean
  /** Published messages survive a broker restart (Kafka, RabbitMQ: true; memory: false). */
  readonly persistent: boolean
  /** A new group can read messages published before it existed (`fromBeginning`). Kafka: true. */
  readonly replay: boolean
  /** `OutgoingMessage.priority` is honoured within a queue (RabbitMQ with `x-max-priority`). */
  readonly priority: boolean
  /** Subscriptions accept `*` (one word) and `#` (zero or more words) patterns over dot-separated topics. */
  readonly patterns: boolean
  /** `nack({ delayMs })` is held by the broker (survives a crash of the consumer) rather than by this process. */
  readonly durableDelay: boolean
  /** Largest payload plus headers the broker accepts, in bytes, if it has a limit. */
  readonly maxMessageBytes: number | undefined
}

/** Options of one subscription. */
export interface SubscribeOptions {
  /**
   * Consumer group. Every group gets every message; members of one group share them.
   * Without a group the subscription is ephemeral: it sees only messages published after it is
   * ready and leaves nothing behind (Kafka: a unique group from the latest offset; RabbitMQ: an
   * exclusive auto-delete queue; memory: a private queue).
   */
  readonly group?: string
  /** Most unsettled deliveries this subscription holds at once (default 64, at least 1). */
  readonly inFlight?: number
  /**
   * For a group that has never consumed: start from the oldest retained message instead of
   * messages published after the group was created. Needs `capabilities.replay`; a transport
   * without it rejects with `CapabilityError`.
   */
  readonly fromBeginning?: boolean
  /**
   * Ask for strict per-key order even where the broker needs a special mode for it
   * (RabbitMQ: single active consumer on the group's queue). Where `orderedByKey` already holds, no-op.
   */
  readonly ordered?: boolean
  /**
   * Called once when the subscription is attached to the broker (Kafka: partitions assigned;
   * RabbitMQ: consume-ok; memory: at once). Messages published after it are seen.
   */
  readonly onReady?: () => void
}

/** Lifecycle state of a transport. */
export type TransportState =
  | 'idle'
  | 'connecting'
  | 'connected'
  | 'rebalancing'
  | 'reconnecting'
  | 'closing'
  | 'closed'

export interface TransportStatus {
  readonly state: TransportState
  /** When this state began, ms since the epoch. */
  readonly since: number
  /** The error behind `reconnecting` (or behind a `closed` that was not asked for). */
  readonly error?: SwitchyardError
}

/** Health of one subscription. Fields a broker cannot tell are absent. */
export interface SubscriptionHealth {
  readonly topic: string
  readonly group: string | undefined
  /** Unsettled deliveries held now. */
  readonly inFlight: number
  /** Messages waiting for this group (Kafka: sum of partition lag; RabbitMQ: queue depth). */
  readonly lag?: number
  /** Kafka: lag per partition. */
  readonly partitions?: readonly { readonly partition: number; readonly lag: number }[]
  /** RabbitMQ: consumers attached to the group's queue. */
  readonly consumers?: number
}

/** One topic as the broker lists it (see {@link Transport.inspect}). Fields a broker cannot tell are absent. */
export interface TopicInfo {
  readonly name: string
  /** Kafka: the topic's partitions. */
  readonly partitions?: number
  /** Messages the broker retains for the topic (Kafka: high minus low watermark; memory: the retained log). */
  readonly messages?: number
}

/** One consumer group on one topic (see {@link Transport.inspect}). Fields a broker cannot tell are absent. */
export interface GroupInfo {
  readonly group: string
  readonly topic: string
  /**
   * Messages this group has not yet settled. Kafka: end offset minus committed offset, summed
   * over partitions (includes deliveries in flight); RabbitMQ: messages ready in the group's queue
   * (excludes unacknowledged ones); memory: waiting plus delayed messages of the group's queue.
   */
  readonly lag?: number
  /** Kafka: lag per partition. */
  readonly partitions?: readonly { readonly partition: number; readonly lag: number }[]
  /** Consumers attached now (Kafka: members of the group; RabbitMQ and memory: consumers on the queue). */
  readonly consumers?: number
}

/** What {@link Transport.inspect} should look at. */
export interface InspectOptions {
  /** Only this topic and its groups. RabbitMQ needs it: AMQP cannot list queues. */
  readonly topic?: string
  /**
   * Only these groups. RabbitMQ needs them (with `topic`) and reports exactly these; the others
   * list every group they find and filter by this.
   */
  readonly groups?: readonly string[]
}

/** A snapshot of the broker's topics and consumer groups, from {@link Transport.inspect}. */
export interface Inspection {
  readonly topics: readonly TopicInfo[]
  readonly groups: readonly GroupInfo[]
  /**
   * `true` when the broker listed everything matching the options; `false` when it can only
   * report what it was asked for by name (RabbitMQ: the named groups of the named topic).
   */
  readonly complete: boolean
  /** When the snapshot was taken, ms since the epoch. */
  readonly at: number
}

export interface HealthReport {
  /** `up`: connected; `degraded`: reconnecting or rebalancing; `down`: not connected or closed. */
  readonly status: 'up' | 'degraded' | 'down'
  readonly kind: string
  readonly state: TransportState
  readonly subscriptions: readonly SubscriptionHealth[]
  /**
   * Messages `publish` accepted that wait in the transport's publish queue, not yet handed to the
   * broker (group commit; see `publish`). Absent where the transport has no queue.
   */
  readonly publishBuffered?: number
  /** Adapter-specific facts (broker version, channels, …); never credentials. */
  readonly details: Readonly<Record<string, unknown>>
  /** Why the transport is not `up`, if known. */
  readonly error?: string
}

export interface CloseOptions {
  /**
   * `true` (default): stop taking new deliveries, wait up to `timeoutMs` for unsettled ones to be
   * settled, then close. `false`: close now; unsettled deliveries go back to the broker.
   */
  readonly drain?: boolean
  /** Upper bound for the drain in ms (default 10,000). Deliveries still unsettled then are redelivered later. */
  readonly timeoutMs?: number
}

/** Declares topology ahead of consumers, so that nothing published meanwhile is missed. */
export interface ProvisionOptions {
  /**
   * Groups that must receive every message published after `provision` resolves, even before any
   * of their consumers subscribes (Kafka: committed offsets at the current end for a new group;
   * RabbitMQ: durable queues bound now; memory: group queues created now).
   */
  readonly groups?: readonly string[]
}

/**
 * A connection to one broker.
 *
 * Every method may be called before `connect()`: the transport connects on first use. `connect()`
 * exists to fail fast at start-up (it rejects with `BrokerUnavailableError` or
 * `AuthenticationError`). A refused login or TLS setup is never retried before the first
 * connection (each use makes one new attempt); after it, a lost connection whose reconnect is
 * refused so is tried again in the background every `backoff.maxMs` (default 5 s), because a broker
 * that has just restarted may refuse a login for a moment, and a consumer-only service would
 * otherwise stay disconnected. After `close()` every method rejects with `TransportClosedError`.
 */
export interface Transport {
  /** `memory`, `kafka`, `rabbitmq`, …: for logs and metrics, never for branching. */
  readonly kind: string
  readonly capabilities: Capabilities
  /** Current status first (replayed to each subscriber), then every change; completes after `closed`. */
  readonly status$: Observable<TransportStatus>

  /** Connects (idempotent). */
  connect(): Promise<void>

  /**
   * Publishes messages, in order per key, and resolves once the broker has durably accepted all of
   * them (Kafka: acks=-1 on an idempotent producer; RabbitMQ: publisher confirms, persistent
   * messages). Rejects with `InvalidTopicError`, `MessageTooLargeError` (before anything is sent),
   * `PublishError`, `BrokerUnavailableError`, `BackpressureError` or `TransportClosedError`; on
   * rejection any subset may have been stored, so publishing again may duplicate, never lose.
   * Topics are created on demand.
   *
   * **Concurrent calls are batched (group commit).** On a transport derived with
   * `deriveTransport` (memory, Kafka, RabbitMQ), calls made while an earlier send is in flight
   * wait in a queue and go to the broker together as the next batch, so
   * `await Promise.all(events.map((e) => transport.publish([e])))` costs a few broker round trips,
   * not one per event. What holds:
   * - Each call settles with its own messages' outcome. When the broker rejects a batch, every
   *   call coalesced into it rejects with that error, and any subset of the batch may have been
   *   stored: publishing again may duplicate, never lose.
   * - Checks run per call before queuing: a call with a bad topic or an oversized message fails
   *   alone and never fails the calls it would have been batched with.
   * - Order per key holds across calls: calls join the queue in call order, a call is never
   *   split, and one batch is in flight at a time per transport. A call that started after
   *   another one's promise settled is sent after it.
   * - An idle transport sends a call at once, with no timer (`lingerMs` 0, the default); batches
   *   are bounded by `maxBatchMessages` (1,000) and `maxBatchBytes` (1 MiB), except that a single
   *   larger call goes out alone, whole.
   * - The queue is bounded (`maxQueuedMessages`, 100,000): when it is full a call waits for room,
   *   in call order, or with `whenFull: 'reject'` rejects at once with `BackpressureError`
   *   (nothing of it sent).
   * - `close()` flushes the queue within its drain timeout; calls still unconfirmed then reject
   *   with `TransportClosedError` (they may have been stored).
   * - A call waiting for the connection rejects with `BrokerUnavailableError` after the connect
   *   timeout.
   * The options are `DeriveOptions` of `deriveTransport` (`@switchyard/core/spi`).
   */
  publish(messages: readonly OutgoingMessage[]): Promise<void>

  /**
   * Declares a topic (and groups) before anyone consumes it. Optional for users — publish and
   * subscribe declare what they need — but a group that must not miss messages published before
   * its first consumer joins is provisioned first.
   */
  provision(topic: string, options?: ProvisionOptions): Promise<void>

  /**
   * The inverse of {@link Transport.provision}: deletes the broker resources of `topic` and of the
   * given groups, with the messages they hold. Kafka: the topic and the consumer groups. RabbitMQ:
   * the groups' queues on `topic` (a pattern is allowed) and their dead-letter queues; the shared
   * exchanges and delay queues are kept, because other topics use them. Memory: the topic's
   * retained messages and its group queues. Idempotent: what does not exist is skipped.
   *
   * **When to use**: tests and tools that create topics and groups, so they leave nothing behind.
   * Call it once the topic's consumers are gone; a consumer still attached may declare its
   * resources again (at-least-once is not promised for messages deleted here).
   */
  deprovision(topic: string, options?: ProvisionOptions): Promise<void>

  /**
   * A cold stream of deliveries: subscribing attaches a consumer, unsubscribing detaches it and
   * gives unsettled deliveries back to the broker. The stream errors with a `SwitchyardError` only
   * when it cannot continue (the transport was closed, the topic was invalid); broker outages are
   * recovered from inside the stream. Deliveries of one key come in publish order; processing them
   * concurrently is up to the consumer (the `Bus` serialises per key).
   */
  subscribe(topic: string, options?: SubscribeOptions): Observable<Delivery>

  /**
   * Resolves once every stream unsubscribed so far has fully detached at the broker: settles
   * started before the unsubscribe reached it and the consumer stopped (Kafka: offsets committed
   * and the group left; RabbitMQ: consumer cancelled and channel closed). Unsubscribing an rxjs
   * `Subscription` is synchronous; await this to know the broker saw it. Never rejects. Optional:
   * every transport derived with `deriveTransport` has it; the `Bus` awaits it when present.
   */
  whenDetached?(): Promise<void>

  /** A snapshot of connection and subscription health; never throws for a broker outage. */
  health(): Promise<HealthReport>

  /**
   * Lists topics and consumer groups with their lag (Kafka: per partition) or depth and consumers
   * (RabbitMQ), for operator tools. Optional: present when the broker can tell (memory, Kafka,
   * RabbitMQ); check for it before calling. Read-only: it never creates a topic, queue or group.
   * Rejects with `InvalidTopicError` for a bad name, `CapabilityError` when the broker needs a
   * `topic` and `groups` it was not given (RabbitMQ), `BrokerUnavailableError` or
   * `TransportClosedError`.
   */
  inspect?(options?: InspectOptions): Promise<Inspection>

  /** Closes, draining by default (see {@link CloseOptions}). Idempotent; concurrent calls share one close. */
  close(options?: CloseOptions): Promise<void>
}
