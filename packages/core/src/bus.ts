/**
 * `Bus`: the application API on top of any `Transport`.
 *
 * It adds everything that is written once for all brokers: codecs, message ids and timestamps,
 * publish hooks, decoding with dead-lettering of bad payloads, and `handle` with per-key serial
 * concurrency, retry with backoff, timeouts, dead-letter and graceful drain. It talks to the
 * broker only through the SPI in `transport.ts`, so it behaves the same on every transport.
 * It does not choose or configure a transport (see `@switchyard/di`).
 */
import { defer, type Observable } from 'rxjs'
import { asEncodeError, checkHandleOptions, subscribeOptionsOf } from './bus-checks.js'
import type {
  BatchEntry,
  BusEvent,
  BusOptions,
  Codec,
  ConsumeOptions,
  HandleOptions,
  Handler,
  HandlerSubscription,
  PublishOptions,
} from './bus-options.js'
import { BusRuntime } from './bus-runtime.js'
import { decodeDeliveries } from './decode-deliveries.js'
import { ConfigError } from './errors.js'
import { HandlerRun } from './handler-subscription.js'
import { SwitchyardHeaders } from './headers.js'
import type { Delivery, OutgoingMessage } from './message.js'
import { nextMessageId } from './message-id.js'
import { validateTopic } from './topic.js'
import type { CloseOptions, Transport } from './transport.js'

const contentTypeHeader = SwitchyardHeaders.contentType
const noTopicYet: unique symbol = Symbol('no topic validated yet')

function badOption(field: string, issue: string): never {
  throw new ConfigError('publish options', [`${field} ${issue}`], { context: { field } })
}

/**
 * Publishes, consumes and handles messages on a transport, with codecs and policies applied.
 *
 * **When to use:** always, in applications; use the raw `Transport` only to write an adapter.
 *
 * **Details:** `publish` resolves when the broker has durably accepted the message.
 * `consume` is a backpressured stream of decoded deliveries that you settle yourself. `handle`
 * settles for you: resolve → ack; throw → retry with backoff, then dead-letter (default topic
 * `<topic>.dlq`). A payload that fails to decode is dead-lettered at once, never retried.
 * `close()` stops every handler (draining) and then closes the transport.
 *
 * @example
 * const bus = new Bus(transport)
 * await bus.publish('talent.registered', { id, title }, { key: id })
 * const sub = bus.handle('talent.registered', { group: 'mail', retry: { attempts: 5 } }, async (m) => {
 *   await sendWelcome(m.payload)
 * })
 * await sub.ready
 */
export class Bus {
  /** The transport underneath (for `capabilities`, `status$` and `health()`). */
  readonly transport: Transport
  /**
   * Everything the Bus does, for metrics, logs and tests. Hot: only events after you subscribe.
   * Building events costs nothing while nobody listens. Completes when the Bus is closed.
   */
  readonly events$: Observable<BusEvent>

  readonly #runtime: BusRuntime
  readonly #handlers = new Set<HandlerSubscription>()
  #closing: Promise<void> | undefined
  /** The last topic `publish` validated (a symbol no caller can pass, until the first one). */
  #lastTopic: string | symbol = noTopicYet
  /** The codec whose shared headers are in `#headers`. */
  #headersCodec: Codec<unknown> | undefined
  #headers: Readonly<Record<string, string>> = {}

  constructor(transport: Transport, options: BusOptions = {}) {
    if (typeof transport?.publish !== 'function' || typeof transport.subscribe !== 'function') {
      throw new ConfigError('Bus', ['transport must implement the Transport interface'], {
        context: { field: 'transport' },
      })
    }
    this.transport = transport
    this.#runtime = new BusRuntime(transport, options)
    this.events$ = this.#runtime.events.asObservable()
  }

  /**
   * Encodes `payload` and publishes it to `topic`; resolves once the broker has durably accepted it.
   * Rejects with `InvalidTopicError`, `EncodeError` or `ConfigError` before anything is sent, or
   * with the transport's errors (`PublishError`, `BrokerUnavailableError`, `TransportClosedError`, …).
   */
  publish<T>(topic: string, payload: T, options?: PublishOptions<T>): Promise<void> {
    if (this.#runtime.closed) return Promise.reject(this.#runtime.closedError('publish'))
    let message: OutgoingMessage
    try {
      message = this.#outgoing(topic, payload, options, Date.now())
    } catch (error) {
      return Promise.reject(error)
    }
    return this.#runtime.send([message])
  }

  /**
   * Publishes several messages (any topics) in ONE transport call: much faster than awaiting
   * `publish` in a loop. Every entry is validated and encoded first; if one fails, nothing is sent.
   */
  publishBatch(entries: readonly BatchEntry[]): Promise<void> {
    if (this.#runtime.closed) return Promise.reject(this.#runtime.closedError('publish'))
    const messages: OutgoingMessage[] = new Array(entries.length)
    // One clock read per batch: every message of a batch is published at the same time.
    const timestamp = Date.now()
    try {
      for (let i = 0; i < entries.length; i++) {
        const entry = entries[i] as BatchEntry
        messages[i] = this.#outgoing(entry.topic, entry.payload, entry, timestamp)
      }
    } catch (error) {
      return Promise.reject(error)
    }
    if (messages.length === 0) return Promise.resolve()
    return this.#runtime.send(messages)
  }

  /**
   * A cold, backpressured stream of decoded deliveries; settle each one with `ack()`/`nack()`.
   * At most `inFlight` (default 64) deliveries are unsettled at once. Payloads that fail to decode
   * are dead-lettered and acked (a `decode-failed` event), never emitted. The stream errors with
   * `InvalidTopicError`, `ConfigError` or `TransportClosedError` when it cannot run.
   *
   * @example
   * bus.consume<Order>('orders', { group: 'billing' })
   *   .pipe(mergeMap((d) => bill(d.message.payload).then(() => d.ack()), 8))
   *   .subscribe()
   */
  consume<T = unknown>(topic: string, options: ConsumeOptions<T> = {}): Observable<Delivery<T>> {
    return defer(() => {
      if (this.#runtime.closed) throw this.#runtime.closedError(`consume ${topic}`)
      this.#checkTopic(topic)
      const subscribe = subscribeOptionsOf('consume options', options as ConsumeOptions<unknown>)
      const codec = (options.codec ?? this.#runtime.codec) as Codec<T>
      return this.transport
        .subscribe(topic, subscribe)
        .pipe(decodeDeliveries(this.#runtime, codec, subscribe.group, options.deadLetterTopic))
    })
  }

  /**
   * Runs `handler` for every message of `topic`, settling each delivery from the outcome (see the
   * class doc). Throws `InvalidTopicError`, `ConfigError` (naming the bad field) or
   * `TransportClosedError` at once; failures while running become `events$`.
   */
  handle<T = unknown>(topic: string, options: HandleOptions<T>, handler: Handler<T>): HandlerSubscription {
    if (this.#runtime.closed) throw this.#runtime.closedError(`handle ${topic}`)
    this.#checkTopic(topic)
    if (typeof handler !== 'function') {
      throw new ConfigError('handle options', ['handler must be a function'], {
        context: { field: 'handler' },
      })
    }
    const checked = checkHandleOptions(options as HandleOptions<unknown>)
    const codec = (options.codec ?? this.#runtime.codec) as Codec<T>
    const run: HandlerRun<T> = new HandlerRun(
      this.#runtime,
      topic,
      checked,
      codec,
      options.deadLetterTopic,
      handler,
      (ended) => this.#handlers.delete(ended),
    )
    if (!run.ended) this.#handlers.add(run)
    return run
  }

  /**
   * Stops every `handle` (draining, up to `timeoutMs`), then closes the transport with the same
   * options and completes `events$`. Idempotent. Afterwards publish rejects and handle throws
   * `TransportClosedError`.
   */
  close(options: CloseOptions = {}): Promise<void> {
    this.#closing ??= this.#close(options)
    return this.#closing
  }

  async #close(options: CloseOptions): Promise<void> {
    this.#runtime.closed = true
    const timeoutMs = options.drain === false ? 0 : options.timeoutMs
    const stop = timeoutMs === undefined ? {} : { timeoutMs }
    await Promise.all([...this.#handlers].map((run) => run.stop(stop)))
    try {
      await this.transport.close(options)
    } finally {
      this.#runtime.events.complete()
    }
  }

  #checkTopic(topic: string): void {
    validateTopic(topic, { allowPatterns: this.transport.capabilities.patterns })
  }

  /** Validates a topic once per distinct name in a row (a batch usually repeats one topic). */
  #checkPublishTopic(topic: string): void {
    if (topic === this.#lastTopic) return
    validateTopic(topic)
    this.#lastTopic = topic
  }

  /**
   * The headers of a message published without `headers`: one frozen object per codec, shared
   * by every such message (headers are read-only on the SPI), so none is allocated per message.
   */
  #codecHeaders(codec: Codec<unknown>): Readonly<Record<string, string>> {
    if (codec !== this.#headersCodec) {
      this.#headersCodec = codec
      this.#headers = Object.freeze({ [contentTypeHeader]: codec.contentType })
    }
    return this.#headers
  }

  #outgoing<T>(
    topic: string,
    payload: T,
    options: PublishOptions<T> | undefined,
    timestamp: number,
  ): OutgoingMessage {
    this.#checkPublishTopic(topic)
    const codec = options?.codec ?? (this.#runtime.codec as Codec<T>)
    let bytes: Uint8Array
    try {
      bytes = codec.encode(payload, topic)
    } catch (error) {
      throw asEncodeError(error, topic)
    }
    if (options === undefined) {
      return {
        topic,
        payload: bytes,
        id: nextMessageId(),
        timestamp,
        headers: this.#codecHeaders(codec as Codec<unknown>),
      }
    }
    const { id, key, priority, headers } = options
    if (id !== undefined && (typeof id !== 'string' || id.length === 0))
      badOption('id', 'must be a non-empty string')
    if (key !== undefined && typeof key !== 'string') badOption('key', 'must be a string')
    if (priority !== undefined && !(Number.isInteger(priority) && priority >= 0 && priority <= 9)) {
      badOption('priority', `must be an integer from 0 to 9, got ${String(priority)}`)
    }
    let all: Readonly<Record<string, string>>
    if (headers === undefined) {
      all = this.#codecHeaders(codec as Codec<unknown>)
    } else {
      const own: Record<string, string> = {}
      for (const name in headers) {
        const value = headers[name]
        if (typeof value !== 'string') badOption(`headers.${name}`, `must be a string, got ${typeof value}`)
        own[name] = value
      }
      own[contentTypeHeader] = codec.contentType
      all = own
    }
    const message: { -readonly [K in keyof OutgoingMessage]: OutgoingMessage[K] } = {
      topic,
      payload: bytes,
      id: id ?? nextMessageId(),
      timestamp,
      headers: all,
    }
    if (key !== undefined) message.key = key
    if (priority !== undefined) message.priority = priority
    return message
  }
}
