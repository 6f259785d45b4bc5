/**
 * The public shapes of the `Bus`: options, handlers, policies and events.
 *
 * The `Bus` (see `bus.ts`) sits on a `Transport` and adds what is written once for every broker:
 * codecs, retry with backoff, delayed redelivery, dead-lettering, per-message timeouts, per-key
 * serial processing, graceful drain, and hooks for tracing and metrics. Policies are data: plain
 * objects you can keep in configuration.
 */

import type { SchedulerLike } from 'rxjs'
import type { Logger } from './logger.js'
import type { Delivery, Message, OutgoingMessage } from './message.js'
import type { Middleware } from './middleware.js'
import type { SubscribeOptions } from './transport.js'

/**
 * Turns values into bytes and back. `decode` throws (or rejects with) `DecodeError` for a payload
 * it cannot accept; the Bus then dead-letters the message with that reason.
 */
export interface Codec<T> {
  /** Written to the `content-type` header on publish. */
  readonly contentType: string
  encode(value: T, topic: string): Uint8Array
  decode(bytes: Uint8Array, message: Message): T | Promise<T>
}

export interface PublishOptions<T = unknown> {
  /** Ordering / partitioning key. Messages with the same key keep their order where the transport says so. */
  readonly key?: string
  readonly headers?: Readonly<Record<string, string>>
  /**
   * Message id (default: a UUIDv8 unique across processes: a per-process random part and a
   * counter, see the core README). Use a business id to make redelivery dedupe easy.
   */
  readonly id?: string
  /** 0-9, where `capabilities.priority`; ignored elsewhere. */
  readonly priority?: number
  /** Codec for this message (default: the Bus codec, JSON unless configured). */
  readonly codec?: Codec<T>
  /**
   * Cancels the publish if aborted before the message is handed to the transport: the promise
   * then rejects with `CancelledError`. Once sent, the broker's answer is awaited regardless.
   */
  readonly signal?: AbortSignal
}

/** One entry of `publishBatch`. */
export interface BatchEntry<T = unknown> extends PublishOptions<T> {
  readonly topic: string
  readonly payload: T
}

/** Retry policy of a handler. Attempts count the first delivery: `attempts: 3` = 1 try + 2 retries. */
export interface RetryPolicy {
  /** Total attempts before dead-lettering (default 3). */
  readonly attempts?: number
  /** `exponential` (default), `fixed`, or a function of the attempt that failed (1-based) giving the delay in ms. */
  readonly backoff?: 'exponential' | 'fixed' | ((attempt: number, error: Error) => number)
  /** First retry delay in ms (default 100). */
  readonly initialDelayMs?: number
  /** Cap for exponential backoff in ms (default 30,000). */
  readonly maxDelayMs?: number
  /** Full jitter: the delay is drawn uniformly from [delay/2, delay] (default true). */
  readonly jitter?: boolean
  /** Return false to dead-letter at once (default: errors whose `retryable === false` are still retried; DecodeError never is). */
  readonly retryable?: (error: Error, attempt: number) => boolean
}

export interface ConsumeOptions<T = unknown> extends SubscribeOptions {
  /** Codec for payloads of this subscription (default: the Bus codec). */
  readonly codec?: Codec<T>
  /** Where undecodable messages go (default `<topic>.dlq`). */
  readonly deadLetterTopic?: string
}

export interface HandleOptions<T = unknown> extends ConsumeOptions<T> {
  /**
   * Handlers running at once (default 1). Messages with the same key never run concurrently and
   * run in delivery order; messages without a key run in any order.
   */
  readonly concurrency?: number
  /** Retry policy, a number of attempts, or `false` for a single attempt (default `{ attempts: 3 }`). */
  readonly retry?: RetryPolicy | number | false
  /** Abort and count as a failure after this many ms (default: none). The handler's `signal` fires. */
  readonly timeoutMs?: number
  /** `false`: after the last attempt drop the message instead of dead-lettering it (not recommended). */
  readonly deadLetter?: boolean
  /**
   * Middleware of this handler only, run inside the Bus-wide `BusOptions.middleware` and outside
   * the Bus's own steps (see `Middleware` for the order).
   */
  readonly middleware?: readonly Middleware[]
}

export interface HandlerContext {
  /** Aborted when the per-message timeout passes or the Bus stops without waiting for this handler. */
  readonly signal: AbortSignal
  /** The raw delivery, for headers; the Bus settles it, so never call `ack`/`nack` yourself. */
  readonly delivery: Delivery<unknown>
}

/** A message handler. Resolve to acknowledge; throw or reject to fail the attempt. */
export type Handler<T> = (message: Message<T>, context: HandlerContext) => unknown

/** A running `handle`: stop it to unsubscribe after draining in-flight handlers. */
export interface HandlerSubscription {
  readonly topic: string
  readonly group: string | undefined
  /** Resolves once the subscription is attached to the broker (see `SubscribeOptions.onReady`). */
  readonly ready: Promise<void>
  /**
   * Stops taking messages, waits up to `timeoutMs` (default 10,000) for running handlers (and
   * their ack/nack/dead-letter), aborts the `signal` of any still running, then unsubscribes.
   * Deliveries not started yet are not run: they stay unsettled and the broker delivers them
   * again after the unsubscribe (to another member of the group, or to the next subscriber).
   * `signal` ends the wait early. Resolves once the subscription has detached at the broker
   * (Kafka's commit-and-leave, RabbitMQ's consumer cancel) on transports that can tell
   * (`Transport.whenDetached`, every transport derived from a driver); on others, once the Bus has
   * unsubscribed, and `transport.close()` finishes the broker-side work. Idempotent.
   */
  stop(options?: StopOptions): Promise<void>
}

/** Options of `HandlerSubscription.stop`. */
export interface StopOptions {
  /** Longest wait for running handlers, in ms (default 10,000). */
  readonly timeoutMs?: number
  /** Aborting it ends the wait at once, as if `timeoutMs` had passed (running handlers' signals abort). */
  readonly signal?: AbortSignal
}

/** Everything the Bus does, as a stream of events (for metrics, logs and tests). */
export type BusEvent =
  | {
      readonly type: 'published'
      readonly topic: string
      readonly count: number
      readonly durationMs: number
    }
  | { readonly type: 'delivered'; readonly message: Message<Uint8Array>; readonly group: string | undefined }
  | {
      readonly type: 'handled'
      readonly message: Message<unknown>
      readonly group: string | undefined
      readonly durationMs: number
    }
  | {
      readonly type: 'handler-failed'
      readonly message: Message<unknown>
      readonly group: string | undefined
      readonly error: Error
      readonly willRetry: boolean
      readonly delayMs: number
    }
  | {
      readonly type: 'dead-lettered'
      readonly message: Message<Uint8Array>
      readonly group: string | undefined
      readonly deadLetterTopic: string
      readonly error: Error
    }
  | { readonly type: 'decode-failed'; readonly message: Message<Uint8Array>; readonly error: Error }
  | {
      /** Publishing to the dead-letter topic failed; the message was given back (nack with delay) to try again. */
      readonly type: 'dead-letter-failed'
      readonly message: Message<Uint8Array>
      readonly group: string | undefined
      readonly deadLetterTopic: string
      readonly error: Error
    }
  | {
      /** `ack`/`nack` of a delivery failed (e.g. the transport closed); the broker will deliver it again. */
      readonly type: 'settle-failed'
      readonly message: Message<Uint8Array>
      readonly group: string | undefined
      readonly operation: 'ack' | 'nack'
      readonly error: Error
    }
  | {
      /** Acknowledged without being handled: a `drop` outcome, `deadLetter: false`, or a dead letter that failed again (never re-dead-lettered). */
      readonly type: 'dropped'
      readonly message: Message<Uint8Array>
      readonly group: string | undefined
      readonly reason?: Error
    }
  | {
      /** A handler has been running for at least `elapsedMs` ≥ `stuckAfterMs`; reported once per delivery, not cancelled. */
      readonly type: 'handler-stuck'
      readonly message: Message<unknown>
      readonly group: string | undefined
      readonly elapsedMs: number
    }
  | {
      /** A `handle` subscription's stream failed and the supervisor restarts it after `delayMs` (`restart` counts from 1). */
      readonly type: 'subscription-restarting'
      readonly topic: string
      readonly group: string | undefined
      readonly error: Error
      readonly restart: number
      readonly delayMs: number
    }
  | {
      /** A restarted `handle` subscription is ready again (its group exists at the broker). */
      readonly type: 'subscription-restarted'
      readonly topic: string
      readonly group: string | undefined
      readonly restart: number
    }
  | {
      /** More than `maxRestarts` restarts within `withinMs`: the child stays failed and the Bus reports `escalated`. */
      readonly type: 'supervision-escalated'
      readonly escalation: SupervisionEscalation
    }
  | {
      /** A `handle` subscription's transport stream ended with an error that is not restarted (a deliberate close, an invalid topic or options, supervision off or escalated); it is stopped. */
      readonly type: 'subscription-failed'
      readonly topic: string
      readonly group: string | undefined
      readonly error: Error
    }
  | {
      /** `HandlerSubscription.stop` (or `bus.close()`) gave up waiting for `running` handlers after `timeoutMs` and aborted their signals. */
      readonly type: 'drain-timed-out'
      readonly topic: string
      readonly group: string | undefined
      readonly timeoutMs: number
      readonly running: number
    }

/**
 * Interception points on the publish side (e.g. a W3C `traceparent` header). Handlers are wrapped
 * with `BusOptions.middleware` instead (the former `aroundHandle` hook).
 */
export interface BusHooks {
  /** Called for every outgoing message; return it with extra headers (e.g. a trace context). */
  readonly beforePublish?: (message: OutgoingMessage) => OutgoingMessage
}

/**
 * The rest of the publish chain from one interceptor's point of view: hands the messages on (in
 * the end to `Transport.publish`, as one call) and resolves once the broker accepted all of them.
 */
export type PublishNext = (messages: readonly OutgoingMessage[]) => Promise<void>

/**
 * Wraps every transport publish call of a Bus: `publish`, `publishBatch` and the Bus's own
 * dead-letter copies. Built once per Bus.
 *
 * **When to use:** work that must see a publish start AND finish: a producer span, a duration
 * metric, a header that depends on the outcome. For a header alone `hooks.beforePublish` is enough.
 *
 * **Details:** runs after `hooks.beforePublish`, first interceptor outermost, with the messages of
 * one call (already encoded, with id and headers). It may pass on new message objects (e.g. with a
 * `traceparent` header) but must pass them all, in order, and call `next` at most once. A throw or
 * rejection rejects the publish; a dead-letter copy that fails is given back to the broker.
 *
 * @example
 * const timed: PublishInterceptor = (next) => async (messages) => {
 *   const started = performance.now()
 *   try {
 *     await next(messages)
 *   } finally {
 *     histogram.record(performance.now() - started, { count: messages.length })
 *   }
 * }
 * const bus = new Bus(transport, { publishInterceptors: [timed] })
 */
export type PublishInterceptor = (next: PublishNext) => PublishNext

/** The stream a {@link ConsumeInterceptor} wraps. */
export interface ConsumeStream {
  /** `consume` (also `messages`) or `dead-letters` (`deadLetters`). */
  readonly kind: 'consume' | 'dead-letters'
  /** The topic or pattern given to `consume`; for `dead-letters`, the dead-letter topic read. */
  readonly topic: string
  readonly group: string | undefined
}

/** Hands one delivery on to the stream's subscriber (in the end, the application's code). */
export type ConsumeNext = (delivery: Delivery<unknown>) => void

/**
 * Wraps the hand-out of every delivery of the Bus's `consume`, `messages` and `deadLetters` streams:
 * what `middleware` is to `handle`. Built once per stream subscription.
 *
 * **When to use:** work that must see a delivery handed to the application and its settle: a
 * process span from hand-out to `ack`/`nack`, a duration metric.
 *
 * **Details:** first interceptor outermost; runs after decoding, synchronously, just before the
 * subscriber's `next`. It may pass on another `Delivery` object (e.g. one whose `ack` ends a span)
 * that settles the original, and must call `next` exactly once, synchronously: the delivery is
 * already counted against `inFlight`, so a dropped one would never be settled. What `next` runs
 * synchronously (the subscriber's `next`, the start of a `mergeMap` project) runs inside any
 * context the interceptor sets around it. It must not throw.
 *
 * @example
 * const timed: ConsumeInterceptor = (next) => (delivery) => {
 *   const started = performance.now()
 *   const record = () => histogram.record(performance.now() - started)
 *   next({
 *     message: delivery.message,
 *     get settled() { return delivery.settled },
 *     ack: () => delivery.ack().finally(record),
 *     nack: (options) => delivery.nack(options).finally(record),
 *   })
 * }
 * const bus = new Bus(transport, { consumeInterceptors: [timed] })
 */
export type ConsumeInterceptor = (next: ConsumeNext, stream: ConsumeStream) => ConsumeNext

/**
 * How the Bus restarts a `handle` subscription whose stream fails (OTP-style supervision). Errors a
 * restart cannot fix — `TransportClosedError` (a deliberate close), `InvalidTopicError`,
 * `ConfigError` — are never restarted.
 */
export interface SupervisionOptions {
  /**
   * `'one_for_one'` (default): restart only the failed subscription. `'one_for_all'`: restart every
   * running `handle` subscription of the Bus with it (for handlers that only make sense together),
   * with one restart budget for the whole Bus.
   */
  readonly strategy?: 'one_for_one' | 'one_for_all'
  /** Most restarts within `withinMs` (per subscription, or per Bus with `one_for_all`) before escalating. Default 5. */
  readonly maxRestarts?: number
  /** The window of `maxRestarts`, in ms. Default 60,000. */
  readonly withinMs?: number
  /** Delay before a restart: `initialMs × factor^(restarts in the window − 1)`, at most `maxMs`. Defaults 200, 30,000, 2. */
  readonly backoff?: { readonly initialMs?: number; readonly maxMs?: number; readonly factor?: number }
  /**
   * Called once, when the restart budget is exceeded the first time: the failed subscription stays
   * stopped, the others keep running, `bus.supervision().escalated` becomes `true`. Exit here to
   * let the orchestrator restart the process (`@switchyard/di` apps: `app.stop()` then exit).
   */
  readonly onEscalate?: (escalation: SupervisionEscalation) => void
}

/** What exceeded the restart budget. */
export interface SupervisionEscalation {
  readonly topic: string
  readonly group: string | undefined
  readonly error: Error
  /** Restarts within the window when it was exceeded. */
  readonly restarts: number
  readonly withinMs: number
  readonly strategy: 'one_for_one' | 'one_for_all'
}

/** `bus.supervision()`: the policy (data) and the state of every supervised `handle` subscription. */
export interface SupervisionReport {
  readonly strategy: 'one_for_one' | 'one_for_all'
  readonly maxRestarts: number
  readonly withinMs: number
  /** True once the restart budget was exceeded: the Bus is unhealthy. */
  readonly escalated: boolean
  readonly children: readonly {
    readonly topic: string
    readonly group: string | undefined
    readonly state: 'running' | 'restarting' | 'failed' | 'stopped'
    /** Restarts so far. */
    readonly restarts: number
  }[]
}

export interface BusOptions {
  /**
   * Restarting of failed `handle` subscriptions (default: `one_for_one`, 5 restarts in 60 s,
   * backoff 200 ms doubling to 30 s). `false`: a failed subscription stops (`subscription-failed`).
   */
  readonly supervision?: SupervisionOptions | false
  /** Default codec (JSON). */
  readonly codec?: Codec<unknown>
  readonly hooks?: BusHooks
  /** Around every transport publish call, first = outermost (see `PublishInterceptor`). */
  readonly publishInterceptors?: readonly PublishInterceptor[]
  /** Around the hand-out of every `consume`/`messages`/`deadLetters` delivery, first = outermost (see `ConsumeInterceptor`). */
  readonly consumeInterceptors?: readonly ConsumeInterceptor[]
  /**
   * Middleware around every handler of this Bus, first = outermost (see `Middleware` for the
   * full order). Replaces `hooks.aroundHandle`.
   */
  readonly middleware?: readonly Middleware[]
  /** Scheduler for timers (backoff, timeouts, stuck detection); tests may pass a virtual-time scheduler. */
  readonly scheduler?: SchedulerLike
  /** Dead-letter topic for a topic (default `${topic}.dlq`). */
  readonly deadLetterTopic?: (topic: string) => string
  /**
   * Report a handler still running after this many ms with a `handler-stuck` event, once per
   * delivery, without cancelling it (`timeoutMs` cancels; handlers whose `timeoutMs` is not longer
   * are not watched). Default 60,000; `0` or `false`: never. On the real-time scheduler a report
   * comes between `stuckAfterMs` and about 1.25 × `stuckAfterMs` (never earlier); `elapsedMs` is a
   * lower bound.
   */
  readonly stuckAfterMs?: number | false
  /**
   * `true`: `bus.close()` also closes the transport. Default `false`: the Bus does not own a
   * transport it was given, so close the transport yourself (whoever created it owns it).
   */
  readonly closeTransport?: boolean
  /**
   * Where the Bus reports connection loss and recovery, rebalances, stuck handlers, dead letters,
   * decode and settle failures, subscription restarts and drains that timed out: one line per
   * event, at most one per kind of event and subscription every 10 s, never a payload, header or
   * credential. A pino logger fits as it is. Default: `defaultLogger()` (JSON lines on stderr at
   * `warn`; silent under a test runner; `SWITCHYARD_LOG_LEVEL` overrides). `false`: no logging.
   */
  readonly logger?: Logger | false
}

/**
 * Declaration-merging hook for a typed topic → payload map (no members by default).
 *
 * @example
 * declare module '@switchyard/core' {
 *   interface Register {
 *     topics: { 'orders.created': Order }
 *   }
 * }
 * // now bus.publish('orders.created', x) requires x: Order, and handle's message is Message<Order>
 */
// biome-ignore lint/suspicious/noEmptyInterface: filled in by applications through declaration merging
export interface Register {}

/** The registered topic map (`Register['topics']`), or none. */
export type RegisteredTopics = Register extends { readonly topics: infer M } ? M : Record<never, never>

/** The names of the registered topics (`never` when nothing is registered). */
export type RegisteredTopic = keyof RegisteredTopics & string

/** `unknown` for a topic name that is not registered, `never` for one that is (used to pick the typed overload). */
export type UnregisteredTopic<S extends string> = [S] extends [RegisteredTopic] ? never : unknown

/** The payload type registered for topic `K`; `unknown` for a topic that is not registered. */
export type TopicPayload<K extends string> = K extends keyof RegisteredTopics ? RegisteredTopics[K] : unknown
