/**
 * Messages and deliveries: the values that flow through a `Transport` and a `Bus`.
 *
 * A `Message<T>` is immutable data. A `Delivery<T>` is one delivery of a message to one
 * subscription, settled exactly once by `ack()` or `nack()`. Until it is settled the transport
 * counts it against the subscription's in-flight limit, and if the subscription or the process
 * ends first, the broker delivers the message again (at-least-once).
 */

/** A message as a consumer sees it. `T` is `Uint8Array` on the SPI and the decoded value on the Bus. */
export interface Message<T = Uint8Array> {
  /**
   * Unique id given at publish time (a version-8 UUID unless the publisher chose one; see the core
   * README for its format); stable across redeliveries.
   */
  readonly id: string
  /** The topic it was published to (for pattern subscriptions, the concrete topic). */
  readonly topic: string
  /** Ordering / partitioning key, if the publisher gave one. */
  readonly key: string | undefined
  /** String headers exactly as published (plus Switchyard's own, see `SwitchyardHeaders`). */
  readonly headers: Readonly<Record<string, string>>
  readonly payload: T
  /** Publish time in ms since the epoch. */
  readonly timestamp: number
  /**
   * 1 on first delivery. Each `nack` (requeue or delay) makes the next delivery's attempt one higher,
   * on every transport. A redelivery after a crash or a closed subscription counts as far as the broker
   * can tell (RabbitMQ: at least 2 once `redelivered` is set; Kafka and memory: not counted).
   */
  readonly attempt: number
}

/**
 * A message handed to `Transport.publish`. The `Bus` fills `id`, `timestamp` and `headers`;
 * adapters carry every field to the consumer unchanged.
 */
export interface OutgoingMessage {
  readonly topic: string
  readonly payload: Uint8Array
  readonly id: string
  readonly timestamp: number
  readonly headers: Readonly<Record<string, string>>
  readonly key?: string
  /** 0 (lowest, default) to 9. Honoured only where `capabilities.priority` is true; ignored elsewhere. */
  readonly priority?: number
}

/** How to give a delivery back. */
export interface NackOptions {
  /**
   * `true` (default): deliver the message again to this group (attempt + 1).
   * `false`: drop it for this group. The `Bus` dead-letters before it drops; on the raw SPI a
   * dropped message is gone (RabbitMQ: rejected without requeue).
   */
  readonly requeue?: boolean
  /**
   * Deliver again no earlier than this many ms from now (implies `requeue`). Other messages keep
   * flowing meanwhile, so a delayed message may be overtaken by later messages of the same key.
   * Memory: timers. RabbitMQ: per-delay TTL queues that dead-letter back. Kafka: see its README.
   */
  readonly delayMs?: number
}

/** The result of a settlement, for hooks and metrics. */
export type Settlement = { readonly kind: 'ack' } | { readonly kind: 'nack'; readonly options: NackOptions }

/**
 * One delivery of a message to one subscription.
 *
 * Settling is idempotent: the first `ack()`/`nack()` counts, later calls resolve and do nothing.
 * Settling after the transport was closed rejects with `TransportClosedError`; settling after the
 * subscription ended (but the transport is open) is a no-op because the broker already took the
 * delivery back and will deliver it again.
 */
export interface Delivery<T = Uint8Array> {
  readonly message: Message<T>
  /** True once `ack()` or `nack()` has been called. */
  readonly settled: boolean
  /**
   * Marks the message as processed for this group. Resolves when the transport has recorded it
   * (Kafka commits offsets in batches and only for the contiguous settled prefix of a partition;
   * RabbitMQ sends basic.ack). A crash before the broker stored it means redelivery, never loss.
   */
  ack(): Promise<void>
  /** Gives the message back; see {@link NackOptions}. */
  nack(options?: NackOptions): Promise<void>
}
