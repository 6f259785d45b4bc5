/**
 * `BusRuntime`: the state a `Bus` shares with its consume streams and handler subscriptions —
 * transport, scheduler, hooks, the event subject — and the dead-letter step they all use.
 *
 * Internal to core (not exported from the package). It never retries and never decides whether
 * to dead-letter; callers do (see `handler-subscription.ts`, `decode-deliveries.ts`).
 */

import { asyncScheduler, type SchedulerLike, Subject } from 'rxjs'
import { BusLog } from './bus-log.js'
import type {
  BusEvent,
  BusHooks,
  BusOptions,
  Codec,
  ConsumeInterceptor,
  ConsumeNext,
  ConsumeStream,
  PublishInterceptor,
  PublishNext,
} from './bus-options.js'
import { jsonCodec } from './codecs.js'
import type { ConsumeDrain } from './consume-drain.js'
import { isDeadLetter } from './dead-letter.js'
import { TransportClosedError, toError } from './errors.js'
import { SwitchyardHeaders } from './headers.js'
import { defaultLogger, silentLogger } from './logger.js'
import type { Delivery, Message, OutgoingMessage } from './message.js'
import type { HandlerOutcome, Middleware } from './middleware.js'
import { resolveSupervision, Supervisor } from './supervisor.js'
import { validateTopic } from './topic.js'
import type { Transport } from './transport.js'

/** Longest error message written to the dead-letter header. */
const maxErrorMessage = 1000

/** Default of `BusOptions.stuckAfterMs`. */
export const defaultStuckAfterMs = 60_000
/** Wait before trying again when the dead-letter topic cannot be resolved or published to. */
const deadLetterRetryDelayMs = 1000

/** Headers describing a delivery's state, not the message: dropped from dead-letter copies. */
const deliveryStateHeaders: readonly string[] = [SwitchyardHeaders.attempt, SwitchyardHeaders.notBefore]

export class BusRuntime {
  readonly transport: Transport
  readonly scheduler: SchedulerLike
  readonly hooks: BusHooks
  readonly codec: Codec<unknown>
  readonly events = new Subject<BusEvent>()
  /** Running `consume` / `deadLetters` streams, drained by `bus.close()`. */
  readonly streams = new Set<ConsumeDrain>()
  /** `BusOptions.middleware`: outermost steps of every handler chain. */
  readonly middleware: readonly Middleware[]
  /** Report handlers running longer than this (ms); 0: never. */
  readonly stuckAfterMs: number
  readonly closeTransport: boolean
  /** Restarts failed `handle` subscriptions; `undefined` with `supervision: false`. */
  readonly supervisor: Supervisor | undefined
  readonly #deadLetterTopic: ((topic: string) => string) | undefined
  /** `Transport.publish` wrapped in `BusOptions.publishInterceptors`. */
  readonly #publish: PublishNext
  /** `BusOptions.consumeInterceptors`, first outermost. */
  readonly #consumeInterceptors: readonly ConsumeInterceptor[]
  /** Log lines for rare events and status changes; `undefined` when logging is off. */
  readonly log: BusLog | undefined
  closed = false

  constructor(transport: Transport, options: BusOptions) {
    this.transport = transport
    this.scheduler = options.scheduler ?? asyncScheduler
    this.hooks = options.hooks ?? {}
    this.codec = options.codec ?? jsonCodec
    this.middleware = options.middleware ?? []
    this.stuckAfterMs = options.stuckAfterMs === false ? 0 : (options.stuckAfterMs ?? defaultStuckAfterMs)
    this.closeTransport = options.closeTransport ?? false
    this.#deadLetterTopic = options.deadLetterTopic
    this.#publish = publishChain(transport, options.publishInterceptors)
    this.#consumeInterceptors = options.consumeInterceptors ?? []
    const supervision = resolveSupervision(options.supervision)
    const scheduler = this.scheduler
    this.supervisor =
      supervision === undefined ? undefined : new Supervisor(supervision, () => scheduler.now())
    const logger = options.logger === undefined ? defaultLogger() : options.logger
    this.log = logger === false || logger === silentLogger ? undefined : new BusLog(logger)
  }

  /** `handOut` wrapped in `BusOptions.consumeInterceptors` for one stream subscription. */
  consumeChain(handOut: ConsumeNext, stream: ConsumeStream): ConsumeNext {
    let chain = handOut
    const interceptors = this.#consumeInterceptors
    for (let i = interceptors.length - 1; i >= 0; i--)
      chain = (interceptors[i] as ConsumeInterceptor)(chain, stream)
    return chain
  }

  /** True when someone listens to `events$`: build event objects only then. */
  get observed(): boolean {
    return this.events.observed
  }

  /**
   * True when a rare event (dead letter, stuck handler, restart, …) must be built: someone listens
   * to `events$` or a logger is set. Per-message events use {@link observed}.
   */
  get reports(): boolean {
    return this.log !== undefined || this.events.observed
  }

  emit(event: BusEvent): void {
    this.events.next(event)
    this.log?.event(event)
  }

  closedError(operation: string): TransportClosedError {
    return new TransportClosedError(operation, { context: { transport: this.transport.kind } })
  }

  /** The dead-letter topic for `topic`: the explicit one, else the Bus rule, else `<topic>.dlq`. */
  deadLetterTopicFor(topic: string, explicit: string | undefined): string {
    if (explicit !== undefined) return explicit
    const chosen = this.#deadLetterTopic ? this.#deadLetterTopic(topic) : `${topic}.dlq`
    return validateTopic(chosen)
  }

  /**
   * Applies `beforePublish` and hands the messages to the publish interceptors and the transport
   * in one call. Never throws: a throwing hook, interceptor or transport becomes a rejection.
   */
  send(messages: OutgoingMessage[]): Promise<void> {
    try {
      const before = this.hooks.beforePublish
      if (before) {
        for (let i = 0; i < messages.length; i++) messages[i] = before(messages[i] as OutgoingMessage)
      }
      if (!this.events.observed) return this.#publish(messages)
      const started = performance.now()
      return this.#publish(messages).then(() => this.#reportPublished(messages, started))
    } catch (error) {
      return Promise.reject(error)
    }
  }

  #reportPublished(messages: readonly OutgoingMessage[], started: number): void {
    const durationMs = performance.now() - started
    const counts = new Map<string, number>()
    for (const m of messages) counts.set(m.topic, (counts.get(m.topic) ?? 0) + 1)
    for (const [topic, count] of counts) this.emit({ type: 'published', topic, count, durationMs })
  }

  /**
   * Publishes a copy of `delivery`'s message to `deadLetterTopic` with the reason headers, then
   * acks it. If the dead-letter publish fails, the delivery is nacked with `retryDelayMs` so that
   * it comes back later (never dropped). Never rejects.
   */
  deadLetter(
    delivery: Delivery,
    group: string | undefined,
    deadLetterTopic: string,
    error: Error,
    attempts: number,
    firstFailureAt: number,
    retryDelayMs: number,
  ): Promise<void> {
    let message: OutgoingMessage
    try {
      message = deadLetterCopy(
        delivery.message,
        deadLetterTopic,
        group,
        error,
        attempts,
        firstFailureAt,
        this.scheduler.now(),
      )
    } catch (thrown) {
      return this.#deadLetterFailed(delivery, group, deadLetterTopic, toError(thrown), retryDelayMs)
    }
    return this.send([message]).then(
      () => {
        if (this.reports) {
          this.emit({ type: 'dead-lettered', message: delivery.message, group, deadLetterTopic, error })
        }
        return this.settle(delivery, group, 'ack')
      },
      (thrown: unknown) =>
        this.#deadLetterFailed(delivery, group, deadLetterTopic, toError(thrown), retryDelayMs),
    )
  }

  #deadLetterFailed(
    delivery: Delivery,
    group: string | undefined,
    deadLetterTopic: string,
    error: Error,
    retryDelayMs: number,
  ): Promise<void> {
    if (this.reports) {
      this.emit({ type: 'dead-letter-failed', message: delivery.message, group, deadLetterTopic, error })
    }
    return this.settle(delivery, group, 'nack', retryDelayMs)
  }

  /**
   * Settles `delivery` from `outcome` (see `HandlerOutcome`). A `dead-letter` outcome for a message
   * that already is a dead letter is dropped instead (dead letters never cascade). Never rejects.
   */
  settleOutcome(
    delivery: Delivery,
    group: string | undefined,
    outcome: HandlerOutcome,
    firstFailureAt?: number,
  ): Promise<void> {
    switch (outcome.kind) {
      case 'ack':
        return this.settle(delivery, group, 'ack')
      case 'retry':
        return this.settle(delivery, group, 'nack', outcome.delayMs)
      case 'drop':
        return this.drop(delivery, group, outcome.reason)
      default:
        return this.#deadLetterOutcome(delivery, group, outcome.reason, outcome.topic, firstFailureAt)
    }
  }

  /** Acks without handling, with a `dropped` event. Never rejects. */
  drop(delivery: Delivery, group: string | undefined, reason: Error | undefined): Promise<void> {
    if (this.reports) {
      this.emit(
        reason === undefined
          ? { type: 'dropped', message: delivery.message, group }
          : { type: 'dropped', message: delivery.message, group, reason },
      )
    }
    return this.settle(delivery, group, 'ack')
  }

  #deadLetterOutcome(
    delivery: Delivery,
    group: string | undefined,
    reason: Error,
    explicit: string | undefined,
    firstFailureAt: number | undefined,
  ): Promise<void> {
    if (isDeadLetter(delivery.message)) return this.drop(delivery, group, reason)
    let topic: string
    try {
      topic = this.deadLetterTopicFor(delivery.message.topic, explicit)
    } catch (thrown) {
      return this.#deadLetterFailed(delivery, group, '', toError(thrown), deadLetterRetryDelayMs)
    }
    const { attempt } = delivery.message
    const first = firstFailureAt ?? this.scheduler.now()
    return this.deadLetter(delivery, group, topic, reason, attempt, first, deadLetterRetryDelayMs)
  }

  /** Acks or nacks (requeue, with an optional delay); a failure becomes a `settle-failed` event. */
  settle(
    delivery: Delivery,
    group: string | undefined,
    operation: 'ack' | 'nack',
    delayMs = 0,
  ): Promise<void> {
    const settled = startSettle(delivery, operation, delayMs)
    return settled.then(undefined, (thrown: unknown) => {
      if (this.reports) {
        this.emit({
          type: 'settle-failed',
          message: delivery.message,
          group,
          operation,
          error: toError(thrown),
        })
      }
    })
  }
}

/** `transport.publish` inside `interceptors`, the first one outermost; a throwing interceptor rejects. */
function publishChain(
  transport: Transport,
  interceptors: readonly PublishInterceptor[] | undefined,
): PublishNext {
  let chain: PublishNext = (messages) => transport.publish(messages)
  if (interceptors === undefined || interceptors.length === 0) return chain
  for (let i = interceptors.length - 1; i >= 0; i--) chain = (interceptors[i] as PublishInterceptor)(chain)
  const outer = chain
  return (messages) => {
    try {
      return outer(messages)
    } catch (error) {
      return Promise.reject(error)
    }
  }
}

/**
 * Asks the transport to ack, or to nack with requeue (after `delayMs` when > 0); a synchronous
 * throw becomes a rejected promise, so callers handle one failure path.
 */
export function startSettle(delivery: Delivery, operation: 'ack' | 'nack', delayMs: number): Promise<void> {
  try {
    return operation === 'ack' ? delivery.ack() : delivery.nack(delayMs > 0 ? { delayMs } : { requeue: true })
  } catch (thrown) {
    return Promise.reject(thrown)
  }
}

/**
 * The dead-letter copy of a message: same id, key, payload bytes and headers (minus delivery
 * state), plus the `SwitchyardHeaders` that say where from and why.
 */
export function deadLetterCopy(
  message: Message<Uint8Array>,
  deadLetterTopic: string,
  group: string | undefined,
  error: Error,
  attempts: number,
  firstFailureAt: number,
  now: number = Date.now(),
): OutgoingMessage {
  const headers: Record<string, string> = { ...message.headers }
  for (const name of deliveryStateHeaders) delete headers[name]
  headers[SwitchyardHeaders.originalTopic] = message.headers[SwitchyardHeaders.originalTopic] ?? message.topic
  if (group !== undefined) headers[SwitchyardHeaders.originalGroup] = group
  else delete headers[SwitchyardHeaders.originalGroup]
  headers[SwitchyardHeaders.errorName] = error.name
  headers[SwitchyardHeaders.errorMessage] = truncate(error.message, maxErrorMessage)
  headers[SwitchyardHeaders.errorRetryable] = String((error as { retryable?: unknown }).retryable === true)
  headers[SwitchyardHeaders.attempts] = String(attempts)
  headers[SwitchyardHeaders.firstFailureAt] = new Date(firstFailureAt).toISOString()
  headers[SwitchyardHeaders.deadLetteredAt] = new Date(now).toISOString()
  const copy: { -readonly [K in keyof OutgoingMessage]: OutgoingMessage[K] } = {
    topic: deadLetterTopic,
    payload: message.payload,
    id: message.id,
    timestamp: now,
    headers,
  }
  if (message.key !== undefined) copy.key = message.key
  return copy
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`
}

/** A decoded view of a raw message (same fields, decoded payload). */
export function withPayload<T>(raw: Message<Uint8Array>, payload: T): Message<T> {
  return {
    id: raw.id,
    topic: raw.topic,
    key: raw.key,
    headers: raw.headers,
    payload,
    timestamp: raw.timestamp,
    attempt: raw.attempt,
  }
}
