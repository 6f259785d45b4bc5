/**
 * Batch handlers: `Bus.handleBatch` collects up to `maxSize` decoded messages (or what arrived
 * within `maxWaitMs`), runs one handler call for them, and settles each message from its own
 * outcome, applying the retry policy and the dead-letter rule per message as `handle` does.
 *
 * Backpressure is the subscription's in-flight limit (at least `maxSize`): no more messages are
 * taken while that many are unsettled. Batches run one at a time, in arrival order. A payload that
 * does not decode is dead-lettered at once and never reaches a batch.
 */
import { bufferTime, concatMap, filter, type Subscription } from 'rxjs'
import { asDecodeError, checkHandleOptions } from './bus-checks.js'
import type { Codec, HandleOptions, HandlerSubscription, StopOptions } from './bus-options.js'
import { type BusRuntime, withPayload } from './bus-runtime.js'
import { ConfigError, toError } from './errors.js'
import type { Delivery, Message } from './message.js'
import { type HandlerOutcome, Outcome } from './middleware.js'
import { backoffDelay, type NormalisedRetry, shouldRetry } from './retry.js'
import type { Transport } from './transport.js'

/** Options of `Bus.handleBatch`: those of `handle` (except `middleware`) plus the batch bounds. */
export interface BatchHandleOptions<T = unknown>
  extends Omit<HandleOptions<T>, 'middleware' | 'concurrency'> {
  /** Most messages per handler call (default 100). The in-flight limit is raised to it if lower. */
  readonly maxSize?: number
  /** Longest wait for a batch to fill, in ms, from its first message (default 100). */
  readonly maxWaitMs?: number
}

/**
 * What to do with one message of a batch: `Outcome.ack()`, `Outcome.retry(delayMs?, error?)` (the
 * retry policy decides the delay and gives up by dead-lettering after its attempts), or
 * `Outcome.deadLetter(reason)` / `Outcome.drop()` at once.
 */
export type BatchOutcome = HandlerOutcome

/** Context of one batch handler call. */
export interface BatchContext {
  /** Aborted when the batch's `timeoutMs` passes or `stop()` gives up waiting for it. */
  readonly signal: AbortSignal
}

/**
 * Handles one batch. Resolve with one outcome per message, in order, or with nothing to ack them
 * all; throw to fail every message of the batch (each one retried per the policy).
 */
export type BatchHandler<T> = (
  messages: readonly Message<T>[],
  context: BatchContext,
) => Promise<readonly BatchOutcome[] | undefined | void> | readonly BatchOutcome[] | undefined | void

interface Item<T> {
  readonly raw: Delivery
  readonly message: Message<T>
}

function positiveInteger(field: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value === 'number' && Number.isInteger(value) && value >= 1) return value
  throw new ConfigError('handleBatch options', [`${field} must be an integer >= 1, got ${String(value)}`], {
    context: { field },
  })
}

function positiveNumber(field: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value === 'number' && Number.isFinite(value) && value > 0) return value
  throw new ConfigError('handleBatch options', [`${field} must be a number > 0, got ${String(value)}`], {
    context: { field },
  })
}

/** A running `handleBatch`. */
export class BatchRun<T> implements HandlerSubscription {
  readonly topic: string
  readonly group: string | undefined
  readonly ready: Promise<void>
  readonly #runtime: BusRuntime
  readonly #retry: NormalisedRetry
  readonly #deadLetter: boolean
  readonly #deadLetterTopic: string | undefined
  readonly #timeoutMs: number | undefined
  readonly #handler: BatchHandler<T>
  readonly #subscription: Subscription
  readonly #settling = new Set<Promise<void>>()
  #running: { promise: Promise<void>; abort: AbortController } | undefined
  #stopped = false
  #stopping: Promise<void> | undefined

  constructor(
    runtime: BusRuntime,
    transport: Transport,
    topic: string,
    options: BatchHandleOptions<T>,
    handler: BatchHandler<T>,
    onEnd: () => void,
  ) {
    if (typeof handler !== 'function') {
      throw new ConfigError('handleBatch options', ['handler must be a function'], {
        context: { field: 'handler' },
      })
    }
    if ((options as HandleOptions<T>).middleware !== undefined) {
      throw new ConfigError('handleBatch options', ['middleware is not supported on batch handlers'], {
        context: { field: 'middleware' },
      })
    }
    const maxSize = positiveInteger('maxSize', options.maxSize, 100)
    const maxWaitMs = positiveNumber('maxWaitMs', options.maxWaitMs, 100)
    const checked = checkHandleOptions({ ...options, inFlight: Math.max(options.inFlight ?? 0, maxSize) })
    this.topic = topic
    this.group = checked.subscribe.group
    this.#runtime = runtime
    this.#retry = checked.retry
    this.#deadLetter = checked.deadLetter
    this.#deadLetterTopic = options.deadLetterTopic
    this.#timeoutMs = checked.timeoutMs
    this.#handler = handler
    const codec = (options.codec ?? runtime.codec) as Codec<T>
    let ready!: () => void
    this.ready = new Promise<void>((resolve) => {
      ready = resolve
    })
    this.#subscription = transport
      .subscribe(topic, { ...checked.subscribe, onReady: () => ready() })
      .pipe(
        concatMap((raw) => this.#decode(raw, codec)),
        filter((item): item is Item<T> => item !== undefined),
        bufferTime(maxWaitMs, null, maxSize),
        filter((batch) => batch.length > 0),
        concatMap((batch) => this.#run(batch)),
      )
      .subscribe({ error: () => onEnd(), complete: () => onEnd() })
  }

  /** Decodes one delivery; a payload the codec refuses is dead-lettered and skipped. */
  async #decode(raw: Delivery, codec: Codec<T>): Promise<Item<T> | undefined> {
    if (this.#stopped) return undefined
    try {
      const value = await codec.decode(raw.message.payload, raw.message)
      const message =
        (value as unknown) === raw.message.payload
          ? (raw.message as Message<T>)
          : (withPayload(raw.message, value) as Message<T>)
      return { raw, message }
    } catch (thrown) {
      const error = asDecodeError(thrown, raw.message)
      if (this.#runtime.observed) this.#runtime.emit({ type: 'decode-failed', message: raw.message, error })
      this.#track(this.#runtime.settleOutcome(raw, this.group, this.#finalFailure(error)))
      return undefined
    }
  }

  #finalFailure(error: Error): HandlerOutcome {
    return this.#deadLetter ? Outcome.deadLetter(error, this.#deadLetterTopic) : Outcome.drop(error)
  }

  async #run(batch: Item<T>[]): Promise<void> {
    if (this.#stopped) return // not started: the broker delivers them again after the unsubscribe
    const abort = new AbortController()
    const timer =
      this.#timeoutMs === undefined
        ? undefined
        : setTimeout(() => abort.abort(new Error('batch timeout')), this.#timeoutMs)
    const running = this.#handle(batch, abort.signal).finally(() => clearTimeout(timer))
    this.#running = { promise: running, abort }
    try {
      await running
    } finally {
      this.#running = undefined
    }
  }

  async #handle(batch: Item<T>[], signal: AbortSignal): Promise<void> {
    const started = performance.now()
    let outcomes: readonly BatchOutcome[] | undefined
    let failure: Error | undefined
    try {
      const result = await this.#handler(
        batch.map((item) => item.message),
        { signal },
      )
      if (result !== undefined && (!Array.isArray(result) || result.length !== batch.length)) {
        failure = new TypeError(
          `a batch handler must resolve with ${batch.length} outcomes (one per message) or nothing`,
        )
      } else {
        outcomes = result ?? undefined
      }
    } catch (thrown) {
      failure = toError(thrown)
    }
    if (failure === undefined && signal.aborted) failure = toError(signal.reason)
    batch.forEach((item, i) => {
      const outcome = failure === undefined ? (outcomes?.[i] ?? Outcome.ack()) : Outcome.retry(0, failure)
      this.#settle(item, outcome, started)
    })
    await Promise.all([...this.#settling])
  }

  /** Settles one message; a `retry` goes through the retry policy (and may end in a dead letter). */
  #settle(item: Item<T>, outcome: BatchOutcome, started: number): void {
    const { runtime, group } = { runtime: this.#runtime, group: this.group }
    if (outcome?.kind === 'retry') {
      const error = outcome.error ?? new Error('the batch handler asked to retry this message')
      const attempt = item.message.attempt
      const willRetry = shouldRetry(this.#retry, attempt, error)
      const delayMs = willRetry ? outcome.delayMs || backoffDelay(this.#retry, attempt, error) : 0
      if (runtime.observed) {
        runtime.emit({ type: 'handler-failed', message: item.message, group, error, willRetry, delayMs })
      }
      this.#track(
        runtime.settleOutcome(
          item.raw,
          group,
          willRetry ? Outcome.retry(delayMs) : this.#finalFailure(error),
        ),
      )
      return
    }
    if (outcome?.kind === 'ack' && runtime.observed) {
      runtime.emit({ type: 'handled', message: item.message, group, durationMs: performance.now() - started })
    }
    const known = outcome?.kind === 'ack' || outcome?.kind === 'dead-letter' || outcome?.kind === 'drop'
    const final = known
      ? outcome
      : this.#finalFailure(new TypeError(`not a batch outcome: ${String(outcome)}`))
    this.#track(runtime.settleOutcome(item.raw, group, final))
  }

  #track(settling: Promise<void>): void {
    this.#settling.add(settling)
    void settling.finally(() => this.#settling.delete(settling))
  }

  /** Stops taking messages, waits up to `timeoutMs` (default 10,000) for the running batch, then unsubscribes. */
  stop(options: StopOptions = {}): Promise<void> {
    this.#stopping ??= this.#stop(options)
    return this.#stopping
  }

  async #stop(options: StopOptions): Promise<void> {
    this.#stopped = true
    const running = this.#running
    if (running !== undefined) {
      const timeoutMs = options.timeoutMs ?? 10_000
      let timer: ReturnType<typeof setTimeout> | undefined
      const gaveUp = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs)
        options.signal?.addEventListener('abort', () => resolve(), { once: true })
      })
      await Promise.race([running.promise, gaveUp])
      clearTimeout(timer)
      running.abort.abort(new Error('the batch handler was stopped'))
    }
    await Promise.all([...this.#settling])
    this.#subscription.unsubscribe()
  }
}
