/**
 * Turns the Bus's rare events and its transport's status changes into log lines, written once here
 * for every transport: one line per event, at most one line per kind of event and subscription
 * per `windowMs` (the next line after a quiet spell says how many were left out), never a payload,
 * header or credential. Per-message events (`delivered`, `handled`, `published`, `handler-failed`)
 * are not logged: metrics and traces cover them.
 */
import type { Subscription } from 'rxjs'
import type { BusEvent } from './bus-options.js'
import type { LogFields, Logger } from './logger.js'
import { redact } from './logger.js'
import type { Transport, TransportState, TransportStatus } from './transport.js'

/** Default of the rate limit: one line per kind of event and subscription per this many ms. */
export const defaultLogWindowMs = 10_000

type Level = 'debug' | 'info' | 'warn' | 'error'

/** Remembers, per key, until when lines are held back and how many were. */
interface Window {
  until: number
  suppressed: number
}

export class BusLog {
  readonly #logger: Logger
  readonly #windowMs: number
  readonly #now: () => number
  readonly #windows = new Map<string, Window>()
  #status: Subscription | undefined
  #state: TransportState | undefined
  #since = 0

  constructor(logger: Logger, options: { windowMs?: number; now?: () => number } = {}) {
    this.#logger = logger
    this.#windowMs = options.windowMs ?? defaultLogWindowMs
    this.#now = options.now ?? Date.now
  }

  /** Follows `transport.status$` (connection loss and recovery, rebalances) until {@link stop}. */
  watch(transport: Transport): void {
    this.#status ??= transport.status$.subscribe({
      next: (status) => this.#onStatus(transport.kind, status),
      error: () => {},
    })
  }

  stop(): void {
    this.#status?.unsubscribe()
  }

  /** Logs `event` if it is one an operator must hear about. */
  event(event: BusEvent): void {
    switch (event.type) {
      case 'handler-stuck':
        this.#line('warn', event.type, event.message.topic, event.group, 'handler stuck', {
          messageId: event.message.id,
          attempt: event.message.attempt,
          elapsedMs: Math.round(event.elapsedMs),
        })
        return
      case 'dead-lettered':
        this.#line('warn', event.type, event.message.topic, event.group, 'message dead-lettered', {
          messageId: event.message.id,
          attempt: event.message.attempt,
          deadLetterTopic: event.deadLetterTopic,
          ...errorFields(event.error),
        })
        return
      case 'dead-letter-failed':
        this.#line(
          'error',
          event.type,
          event.message.topic,
          event.group,
          'dead-lettering failed; the message was given back',
          {
            messageId: event.message.id,
            deadLetterTopic: event.deadLetterTopic,
            ...errorFields(event.error),
          },
        )
        return
      case 'decode-failed':
        this.#line(
          'warn',
          event.type,
          event.message.topic,
          undefined,
          'payload failed to decode; dead-lettered',
          {
            messageId: event.message.id,
            ...errorFields(event.error),
          },
        )
        return
      case 'settle-failed':
        this.#line(
          'warn',
          event.type,
          event.message.topic,
          event.group,
          `${event.operation} failed; the broker will redeliver`,
          {
            messageId: event.message.id,
            ...errorFields(event.error),
          },
        )
        return
      case 'subscription-restarting':
        this.#line('warn', event.type, event.topic, event.group, 'subscription failed; restarting', {
          restart: event.restart,
          delayMs: event.delayMs,
          ...errorFields(event.error),
        })
        return
      case 'subscription-restarted':
        this.#line('info', event.type, event.topic, event.group, 'subscription restarted', {
          restart: event.restart,
        })
        return
      case 'subscription-failed':
        this.#line(
          'error',
          event.type,
          event.topic,
          event.group,
          'subscription stopped after an error',
          errorFields(event.error),
        )
        return
      case 'supervision-escalated':
        this.#line(
          'error',
          event.type,
          event.escalation.topic,
          event.escalation.group,
          'restart budget exceeded; the Bus is unhealthy',
          {
            restarts: event.escalation.restarts,
            withinMs: event.escalation.withinMs,
            strategy: event.escalation.strategy,
            ...errorFields(event.escalation.error),
          },
        )
        return
      case 'drain-timed-out':
        this.#line(
          'warn',
          event.type,
          event.topic,
          event.group,
          'handlers still running when the drain timed out; aborted',
          {
            timeoutMs: event.timeoutMs,
            running: event.running,
          },
        )
        return
      default:
        return
    }
  }

  #onStatus(kind: string, status: TransportStatus): void {
    const previous = this.#state
    const downFor = Math.max(0, status.since - this.#since)
    this.#state = status.state
    this.#since = status.since
    if (previous === status.state) return
    const error = status.error === undefined ? {} : errorFields(status.error)
    switch (status.state) {
      case 'reconnecting':
        this.#line('warn', 'connection-lost', undefined, undefined, 'connection lost; reconnecting', {
          transport: kind,
          ...error,
        })
        return
      case 'rebalancing':
        this.#line('info', 'rebalancing', undefined, undefined, 'consumer group rebalancing', {
          transport: kind,
        })
        return
      case 'connected':
        if (previous === 'reconnecting') {
          // At `warn`, like the loss, so that a warn-level log shows both ends of an outage.
          this.#line('warn', 'connection-recovered', undefined, undefined, 'connection recovered', {
            transport: kind,
            downMs: downFor,
          })
        } else if (previous === 'rebalancing') {
          this.#line('info', 'rebalanced', undefined, undefined, 'consumer group rebalanced', {
            transport: kind,
            tookMs: downFor,
          })
        }
        return
      case 'closed':
        if (status.error !== undefined) {
          this.#line('error', 'transport-failed', undefined, undefined, 'transport closed after an error', {
            transport: kind,
            ...error,
          })
        }
        return
      default:
        return
    }
  }

  #line(
    level: Level,
    event: string,
    topic: string | undefined,
    group: string | undefined,
    message: string,
    fields: LogFields,
  ): void {
    const key = `${event}\u0000${topic ?? ''}\u0000${group ?? ''}`
    const now = this.#now()
    const window = this.#windows.get(key)
    if (window !== undefined && now < window.until) {
      window.suppressed++
      return
    }
    const suppressed = window?.suppressed ?? 0
    if (this.#windows.size >= 10_000) this.#windows.clear()
    this.#windows.set(key, { until: now + this.#windowMs, suppressed: 0 })
    const line: Record<string, unknown> = { event }
    if (topic !== undefined) line.topic = topic
    if (group !== undefined) line.group = group
    Object.assign(line, fields)
    if (suppressed > 0) line.suppressed = suppressed
    try {
      this.#logger[level](line, message)
    } catch {
      // A failing logger must not break message handling.
    }
  }
}

function errorFields(error: Error): LogFields {
  return { errorType: error.name, error: redact(error.message) }
}
