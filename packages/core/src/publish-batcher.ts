/**
 * `PublishBatcher`: group commit for the `publish` of a derived transport.
 *
 * `publish` calls made while a driver send is in flight wait in a bounded queue and go out
 * together, in call order, as the next `driver.publish(batch)` (at most `maxBatchMessages`
 * messages and about `maxBatchBytes` bytes per batch; a single call is never split). One batch is
 * in flight at a time per transport, so per-key order holds across calls — or up to the driver's
 * `features.publishWindows`, for a driver that writes concurrent batches in call order onto one
 * ordered stream (RabbitMQ's confirm channel). Each call's promise
 * settles with the outcome of the batch that carried its messages. With `lingerMs` 0 (default)
 * an idle transport sends a call at once, without a timer; with `lingerMs` > 0 the first queued
 * call waits up to that long for company.
 *
 * It neither validates messages (the derived transport checks each call before it gets here, so a
 * bad call fails alone) nor knows the broker: it calls a `send` function and a connection wait.
 */
import type { SchedulerLike, Subscription } from 'rxjs'
import type { Settled } from './driver.js'
import { BackpressureError, ConfigError, isSwitchyardError, type SwitchyardError } from './errors.js'
import { InFlightTracker } from './in-flight-tracker.js'
import type { OutgoingMessage } from './message.js'

/** Default {@link PublishBatchOptions.maxBatchMessages}. */
export const defaultMaxBatchMessages = 1_000
/** Default {@link PublishBatchOptions.maxBatchBytes} (1 MiB). */
export const defaultMaxBatchBytes = 1_048_576
/** Default {@link PublishBatchOptions.maxQueuedMessages}. */
export const defaultMaxQueuedMessages = 100_000

/** How `publish` calls are coalesced into driver batches (part of `DeriveOptions`). */
export interface PublishBatchOptions {
  /**
   * Most messages in one `driver.publish` built from several calls (default 1,000). A single
   * call with more messages goes out alone, whole. `1` turns coalescing off.
   */
  readonly maxBatchMessages?: number
  /**
   * Most bytes (payload plus header and key characters) in one `driver.publish` built from
   * several calls (default 1 MiB). A single larger call goes out alone, whole; each message is
   * still checked against `capabilities.maxMessageBytes`.
   */
  readonly maxBatchBytes?: number
  /**
   * How long the first queued call waits for others before its batch is sent (default 0: an idle
   * transport sends at once and calls coalesce only while a send is in flight). Runs on the
   * derived transport's scheduler.
   */
  readonly lingerMs?: number
  /**
   * Most messages waiting to be sent (not counting the batch in flight; default 100,000). A call
   * that does not fit waits for room, or is refused (see {@link whenFull}). A call is always
   * accepted into an empty queue, whatever its size.
   */
  readonly maxQueuedMessages?: number
  /**
   * What `publish` does when the queue is full: `'wait'` (default) until earlier batches leave
   * it, in call order; `'reject'` with `BackpressureError` at once, nothing of that call sent.
   */
  readonly whenFull?: 'wait' | 'reject'
}

/** What the batcher needs from its transport. */
export interface PublishHost {
  readonly kind: string
  readonly scheduler: SchedulerLike
  /** How long a call waits for the connection before it rejects. */
  readonly connectTimeoutMs: number
  /** `undefined` when connected; else resolves once connected, or rejects after `timeoutMs`. */
  connected(timeoutMs: number): Promise<void> | undefined
  /** The driver's `publish`; may throw. */
  send(messages: readonly OutgoingMessage[]): Settled
  /** Turns whatever the driver threw into a `SwitchyardError`. */
  wrap(error: unknown): SwitchyardError
  /**
   * Most batches handed to `send` and not settled yet (the driver's `features.publishWindows`,
   * default 1). Above 1, `send` must put batches onto the broker in the order it was called.
   */
  readonly windows?: number
}

interface Call {
  readonly messages: readonly OutgoingMessage[]
  readonly bytes: number
  readonly resolve: () => void
  readonly reject: (error: Error) => void
  /** Scheduler time it entered the queue: the linger and connection-wait clocks start here. */
  at: number
  settled: boolean
}

const done: Promise<void> = Promise.resolve()

/** The fields of {@link PublishBatchOptions}, in documentation order. */
export const publishBatchOptionNames: readonly (keyof PublishBatchOptions)[] = [
  'maxBatchMessages',
  'maxBatchBytes',
  'lingerMs',
  'maxQueuedMessages',
  'whenFull',
]

/**
 * What is wrong with `value` as the batching option `field` (`must be an integer >= 1`), or
 * undefined when it is fine; undefined values are fine (the default applies).
 */
export function publishBatchOptionProblem(
  field: keyof PublishBatchOptions,
  value: unknown,
): string | undefined {
  if (value === undefined) return undefined
  switch (field) {
    case 'lingerMs':
      return typeof value === 'number' && Number.isFinite(value) && value >= 0
        ? undefined
        : 'must be a number >= 0'
    case 'whenFull':
      return value === 'wait' || value === 'reject' ? undefined : "must be 'wait' or 'reject'"
    default:
      return Number.isSafeInteger(value) && (value as number) >= 1 ? undefined : 'must be an integer >= 1'
  }
}

/** Validates and defaults {@link PublishBatchOptions}; throws `ConfigError` naming the field. */
export function resolveBatchOptions(
  kind: string,
  options: PublishBatchOptions,
): Required<PublishBatchOptions> {
  for (const field of publishBatchOptionNames) {
    const problem = publishBatchOptionProblem(field, options[field])
    if (problem !== undefined) {
      throw new ConfigError('transport options', [`${field} ${problem}, got ${String(options[field])}`], {
        context: { transport: kind, field },
      })
    }
  }
  return {
    maxBatchMessages: options.maxBatchMessages ?? defaultMaxBatchMessages,
    maxBatchBytes: options.maxBatchBytes ?? defaultMaxBatchBytes,
    maxQueuedMessages: options.maxQueuedMessages ?? defaultMaxQueuedMessages,
    lingerMs: options.lingerMs ?? 0,
    whenFull: options.whenFull ?? 'wait',
  }
}

/** The publish queue of one derived transport (see the module header). Internal to core. */
export class PublishBatcher {
  readonly #host: PublishHost
  readonly #options: Required<PublishBatchOptions>
  /** Calls not yet settled (queued, waiting for room or in flight), for `close()`. */
  readonly #tracker = new InFlightTracker()
  /** Calls waiting for room in the queue, in call order. */
  #waiting: Call[] = []
  #queue: Call[] = []
  #head = 0
  #queuedMessages = 0
  #queuedBytes = 0
  /** The batches the driver is sending (at most `#windows`). */
  readonly #flights = new Set<Call[]>()
  readonly #windows: number
  /** The pump waits for the connection. */
  #holding = false
  /** When the pump began waiting for the connection (the clock of calls queued before). */
  #waitStart: number | undefined
  #linger: Subscription | undefined
  #stopped = false

  /** Messages accepted by `publish` and not handed to the driver yet (queued or waiting for room). */
  get buffered(): number {
    let waiting = 0
    for (const call of this.#waiting) waiting += call.messages.length
    return this.#queuedMessages + waiting
  }

  constructor(host: PublishHost, options: Required<PublishBatchOptions>) {
    this.#host = host
    this.#options = options
    this.#windows = host.windows ?? 1
  }

  /**
   * Sends `messages` (already checked; `bytes` as counted by the checks) with the next batch and
   * settles with that batch's outcome.
   */
  publish(messages: readonly OutgoingMessage[], bytes: number): Promise<void> {
    if (this.#idle() && this.#options.lingerMs === 0 && !this.#stopped) {
      const waiting = this.#host.connected(this.#host.connectTimeoutMs)
      if (waiting === undefined) {
        // Nothing queued or in flight: send now, as an unbatched publish would.
        let sent: Settled
        try {
          sent = this.#host.send(messages)
        } catch (error) {
          return Promise.reject(this.#host.wrap(error))
        }
        if (sent === undefined) return done
        const { call, promise } = this.#call(messages, bytes)
        this.#fly([call], sent)
        return promise
      }
      const { call, promise } = this.#call(messages, bytes)
      this.#enqueue(call)
      this.#waitStart = call.at
      this.#hold(waiting)
      return promise
    }
    const count = messages.length
    const full = this.#waiting.length > 0 || !this.#fits(count)
    if (full && this.#options.whenFull === 'reject') {
      return Promise.reject(
        new BackpressureError(
          messages[0]?.topic ?? '',
          this.#queuedMessages,
          this.#options.maxQueuedMessages,
          { context: { transport: this.#host.kind } },
        ),
      )
    }
    const { call, promise } = this.#call(messages, bytes)
    if (full) this.#waiting.push(call)
    else this.#enqueue(call)
    this.#pump()
    return promise
  }

  /** Resolves `true` once every call settled, or `false` after `timeoutMs`. Never rejects. */
  whenIdle(timeoutMs: number): Promise<boolean> {
    return this.#tracker.whenIdle(timeoutMs, this.#host.scheduler)
  }

  /** Rejects every call not settled yet (queued, waiting for room, in flight) and sends nothing more. */
  rejectAll(error: Error): void {
    this.#stopped = true
    this.#linger?.unsubscribe()
    this.#linger = undefined
    const flight = [...this.#flights].flat()
    const queued = this.#queue.slice(this.#head)
    const waiting = this.#waiting
    this.#flights.clear()
    this.#queue = []
    this.#head = 0
    this.#waiting = []
    this.#queuedMessages = 0
    this.#queuedBytes = 0
    this.#settle(flight, error)
    this.#settle(queued, error)
    this.#settle(waiting, error)
  }

  #call(messages: readonly OutgoingMessage[], bytes: number): { call: Call; promise: Promise<void> } {
    let call!: Call
    const promise = new Promise<void>((resolve, reject) => {
      call = { messages, bytes, resolve, reject, at: 0, settled: false }
    })
    this.#tracker.add()
    return { call, promise }
  }

  #idle(): boolean {
    return this.#flights.size === 0 && !this.#holding && this.#head === this.#queue.length
  }

  #fits(count: number): boolean {
    return this.#queuedMessages === 0 || this.#queuedMessages + count <= this.#options.maxQueuedMessages
  }

  #enqueue(call: Call): void {
    call.at = this.#host.scheduler.now()
    this.#queue.push(call)
    this.#queuedMessages += call.messages.length
    this.#queuedBytes += call.bytes
  }

  /** Moves calls waiting for room into the queue, in call order, while they fit. */
  #admit(): void {
    while (this.#waiting.length > 0) {
      const next = this.#waiting[0] as Call
      if (!this.#fits(next.messages.length)) return
      this.#waiting.shift()
      this.#enqueue(next)
    }
  }

  /** Sends the next batches while a window is free, lingering or waiting for the connection first. */
  #pump(): void {
    while (
      !this.#stopped &&
      this.#flights.size < this.#windows &&
      !this.#holding &&
      this.#head < this.#queue.length
    ) {
      const head = this.#queue[this.#head] as Call
      const now = this.#host.scheduler.now()
      const { lingerMs, maxBatchMessages, maxBatchBytes } = this.#options
      if (lingerMs > 0 && this.#queuedMessages < maxBatchMessages && this.#queuedBytes < maxBatchBytes) {
        const due = head.at + lingerMs
        if (now < due) {
          this.#linger ??= this.#host.scheduler.schedule(() => {
            this.#linger = undefined
            this.#pump()
          }, due - now)
          return
        }
      }
      this.#waitStart ??= now
      const deadline = Math.max(head.at, this.#waitStart) + this.#host.connectTimeoutMs
      const waiting = this.#host.connected(Math.max(0, deadline - now))
      if (waiting !== undefined) {
        this.#hold(waiting)
        return
      }
      this.#waitStart = undefined
      this.#linger?.unsubscribe()
      this.#linger = undefined
      const batch = this.#take()
      let sent: Settled
      try {
        sent = this.#host.send(flatten(batch))
      } catch (error) {
        this.#settle(batch, this.#host.wrap(error))
        continue
      }
      if (sent === undefined) this.#settle(batch)
      else this.#fly(batch, sent)
    }
  }

  /** Sends nothing until the connection is back; then sends, or rejects the calls that waited too long. */
  #hold(waiting: Promise<void>): void {
    this.#holding = true
    waiting.then(
      () => {
        this.#holding = false
        this.#pump()
      },
      (error: unknown) => {
        this.#holding = false
        this.#expire(this.#host.wrap(error))
        this.#pump()
      },
    )
  }

  #fly(batch: Call[], sent: Promise<void>): void {
    this.#flights.add(batch)
    const land = (error?: SwitchyardError): void => {
      this.#flights.delete(batch)
      this.#settle(batch, error)
      this.#pump()
    }
    sent.then(
      () => land(),
      (error: unknown) => land(this.#host.wrap(error)),
    )
  }

  /** The connection did not come in time: rejects the queued calls whose wait is over. */
  #expire(error: SwitchyardError): void {
    const now = this.#host.scheduler.now()
    const start = this.#waitStart ?? now
    // Only a timeout is per call; a refused login or a close fails everything queued.
    const all = !isSwitchyardError(error, 'BrokerUnavailableError')
    const expired: Call[] = []
    while (this.#head < this.#queue.length) {
      const call = this.#queue[this.#head] as Call
      if (!all && Math.max(call.at, start) + this.#host.connectTimeoutMs > now) break
      expired.push(call)
      this.#head++
      this.#queuedMessages -= call.messages.length
      this.#queuedBytes -= call.bytes
    }
    this.#compact()
    if (this.#head === this.#queue.length) this.#waitStart = undefined
    this.#settle(expired, error)
    this.#admit()
  }

  /** Takes the next batch off the queue: whole calls, in call order, within the batch bounds. */
  #take(): Call[] {
    const { maxBatchMessages, maxBatchBytes } = this.#options
    const batch: Call[] = []
    let count = 0
    let bytes = 0
    while (this.#head < this.#queue.length) {
      const call = this.#queue[this.#head] as Call
      const n = call.messages.length
      if (batch.length > 0 && (count + n > maxBatchMessages || bytes + call.bytes > maxBatchBytes)) break
      batch.push(call)
      count += n
      bytes += call.bytes
      this.#head++
    }
    this.#queuedMessages -= count
    this.#queuedBytes -= bytes
    this.#compact()
    this.#admit()
    return batch
  }

  #compact(): void {
    if (this.#head === this.#queue.length) {
      this.#queue = []
      this.#head = 0
    } else if (this.#head > 1_024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head)
      this.#head = 0
    }
  }

  #settle(calls: readonly Call[], error?: Error): void {
    for (const call of calls) {
      if (call.settled) continue
      call.settled = true
      this.#tracker.done()
      if (error === undefined) call.resolve()
      else call.reject(error)
    }
  }
}

function flatten(batch: readonly Call[]): readonly OutgoingMessage[] {
  if (batch.length === 1) return (batch[0] as Call).messages
  const messages: OutgoingMessage[] = []
  for (const call of batch) for (const message of call.messages) messages.push(message)
  return messages
}
