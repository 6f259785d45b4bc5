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
import { toAsyncIterable } from './async-iterable.js'
import { type BatchHandleOptions, type BatchHandler, BatchRun } from './batch-handler.js'
import {
  asEncodeError,
  checkHandleOptions,
  checkInterceptors,
  checkLogger,
  checkMiddleware,
  checkPublishOptions,
  subscribeOptionsOf,
} from './bus-checks.js'
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
  RegisteredTopic,
  SupervisionReport,
  TopicPayload,
  UnregisteredTopic,
} from './bus-options.js'
import { BusRuntime } from './bus-runtime.js'
import { bytesCodec } from './codecs.js'
import { type DeadLetter, type DeadLetterDelivery, readDeadLetter } from './dead-letter.js'
import { decodeDeliveries, passDeliveries } from './decode-deliveries.js'
import { DriverTransport } from './derive-transport.js'
import { CancelledError, ConfigError } from './errors.js'
import { HandlerRun } from './handler-subscription.js'
import { SwitchyardHeaders } from './headers.js'
import type { Delivery, OutgoingMessage } from './message.js'
import { nextMessageId } from './message-id.js'
import { buildChain } from './policy-middleware.js'
import {
  type ReplyHandler,
  ReplyInbox,
  type ReplyOptions,
  type RequestBusPort,
  type RequestOptions,
  replyingHandler,
} from './request-reply.js'
import { settleWatch, type WatchedSubscribeOptions } from './settle-watch.js'
import { validateTopic } from './topic.js'
import type { CloseOptions, Transport } from './transport.js'

const contentTypeHeader = SwitchyardHeaders.contentType
const noTopicYet: unique symbol = Symbol('no topic validated yet')
/** Default wait of `close()` for consume streams' handed-out deliveries (as for handlers). */
const defaultDrainTimeoutMs = 10_000

/**
 * Publishes, consumes and handles messages on a transport, with codecs and policies applied.
 *
 * **When to use:** always, in applications; use the raw `Transport` only to write an adapter.
 *
 * **Details:** `publish` resolves when the broker has durably accepted the message.
 * `consume` (or `messages`, for `for await`) is a backpressured stream of decoded deliveries that
 * you settle yourself. `handle` settles for you from the outcome of its middleware chain:
 * resolve → ack; throw → retry with backoff, then dead-letter (default topic `<topic>.dlq`). A
 * payload that fails to decode is dead-lettered at once, never retried; a message that already is
 * a dead letter is never dead-lettered again (read those with `deadLetters`). `close()` completes
 * consume streams and stops every handler (draining); it closes the transport only with
 * `closeTransport: true`.
 *
 * @example
 * const transport = new MemoryTransport()
 * const bus = new Bus(transport, { middleware: [timing] })
 * await bus.publish('talent.registered', { id, title }, { key: id })
 * const sub = bus.handle('talent.registered', { group: 'mail', retry: { attempts: 5 } }, async (m) => {
 *   await sendWelcome(m.payload)
 * })
 * await sub.ready
 * // at shutdown
 * await bus.close()
 * await transport.close()
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
  /** The requesting side of request–reply, made on the first `request`. */
  #inbox: ReplyInbox | undefined
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
    if (options.middleware !== undefined) checkMiddleware('Bus options', options.middleware)
    if (options.publishInterceptors !== undefined)
      checkInterceptors('publishInterceptors', options.publishInterceptors)
    if (options.consumeInterceptors !== undefined)
      checkInterceptors('consumeInterceptors', options.consumeInterceptors)
    const stuck = options.stuckAfterMs
    if (
      stuck !== undefined &&
      stuck !== false &&
      !(typeof stuck === 'number' && stuck >= 0 && Number.isFinite(stuck))
    ) {
      throw new ConfigError(
        'Bus options',
        [`stuckAfterMs must be a number >= 0 or false, got ${String(stuck)}`],
        {
          context: { field: 'stuckAfterMs' },
        },
      )
    }
    if (options.closeTransport !== undefined && typeof options.closeTransport !== 'boolean') {
      throw new ConfigError(
        'Bus options',
        [`closeTransport must be a boolean, got ${String(options.closeTransport)}`],
        {
          context: { field: 'closeTransport' },
        },
      )
    }
    if (options.logger !== undefined && options.logger !== false) checkLogger(options.logger)
    this.#runtime = new BusRuntime(transport, options)
    this.events$ = this.#runtime.events.asObservable()
    this.#runtime.log?.watch(transport)
  }

  /**
   * Encodes `payload` and publishes it to `topic`; resolves once the broker has durably accepted it.
   * Rejects with `InvalidTopicError`, `EncodeError` or `ConfigError` before anything is sent, or
   * with the transport's errors (`PublishError`, `BrokerUnavailableError`, `TransportClosedError`, …).
   * With `options.signal` already aborted, rejects with `CancelledError` and sends nothing. When the
   * topic is in the `Register` topic map, `payload` must have its registered type.
   */
  publish<K extends RegisteredTopic>(
    topic: K,
    payload: TopicPayload<K>,
    options?: PublishOptions<TopicPayload<K>>,
  ): Promise<void>
  publish<T, S extends string = string>(
    topic: S & UnregisteredTopic<S>,
    payload: T,
    options?: PublishOptions<T>,
  ): Promise<void>
  publish(topic: string, payload: unknown, options?: PublishOptions<unknown>): Promise<void> {
    if (this.#runtime.closed) return Promise.reject(this.#runtime.closedError('publish'))
    if (options?.signal?.aborted) {
      return Promise.reject(
        new CancelledError(`Publishing to ${JSON.stringify(topic)}`, {
          cause: options.signal.reason,
          context: { topic },
        }),
      )
    }
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
   * If any entry's `signal` is already aborted, rejects with `CancelledError` and sends nothing.
   */
  publishBatch(entries: readonly BatchEntry[]): Promise<void> {
    if (this.#runtime.closed) return Promise.reject(this.#runtime.closedError('publish'))
    const messages: OutgoingMessage[] = new Array(entries.length)
    // One clock read per batch: every message of a batch is published at the same time.
    const timestamp = Date.now()
    try {
      for (let i = 0; i < entries.length; i++) {
        const entry = entries[i] as BatchEntry
        if (entry.signal?.aborted) {
          throw new CancelledError(`Publishing a batch to ${JSON.stringify(entry.topic)}`, {
            cause: entry.signal.reason,
            context: { topic: entry.topic },
          })
        }
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
   * are dead-lettered and acked (a `decode-failed` event), never emitted — with the same decode and
   * dead-letter steps as `handle`. The stream COMPLETES when the Bus is closed (or its transport is
   * closed on purpose); unsettled deliveries then go back to the broker. It errors with
   * `InvalidTopicError`, `ConfigError` or `TransportClosedError` (subscribed after `close()`) when it
   * cannot run.
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
      const transport = this.transport
      if ((codec as Codec<unknown>) === bytesCodec && transport instanceof DriverTransport) {
        // Nothing to decode: the derived transport's deliveries are handed out as they are.
        const stream = { kind: 'consume', topic, group: subscribe.group } as const
        return passDeliveries(this.#runtime, stream, (watcher) =>
          transport.subscribe(topic, { ...subscribe, [settleWatch]: watcher } as WatchedSubscribeOptions),
        ) as Observable<Delivery<T>>
      }
      return transport
        .subscribe(topic, subscribe)
        .pipe(
          decodeDeliveries(
            this.#runtime,
            codec,
            { kind: 'consume', topic, group: subscribe.group },
            options.deadLetterTopic,
          ),
        )
    })
  }

  /**
   * `consume` as an async iterable: `for await (const d of bus.messages(topic, options))`.
   *
   * **Details:** subscribes when the loop starts. Backpressure is the in-flight limit: at most
   * `inFlight` deliveries are unsettled, so settle each one (`ack`/`nack`) as you go. Leaving the
   * loop (`break`, `return`, a throw) unsubscribes, and the unsettled deliveries go back to the
   * broker. The loop ends when the Bus is closed; stream errors are thrown from it.
   *
   * @example
   * for await (const d of bus.messages<Order>('orders', { group: 'billing' })) {
   *   await bill(d.message.payload)
   *   await d.ack()
   * }
   */
  messages<T = unknown>(topic: string, options: ConsumeOptions<T> = {}): AsyncIterable<Delivery<T>> {
    return toAsyncIterable(this.consume(topic, options))
  }

  /**
   * Reads the dead-letter topic of `topic` (the Bus rule, default `<topic>.dlq`, or
   * `options.deadLetterTopic`): a backpressured stream of deliveries whose `message.payload` is a
   * typed `DeadLetter` view (reason, original topic and group, attempts, times, raw bytes, and the
   * value decoded with `options.codec` or the decode error). Nothing read here is ever
   * dead-lettered again; settle each delivery yourself. Drains and completes when the Bus closes,
   * like `consume`.
   *
   * **When to use:** audit handlers, alerting and replay tools; `handle` on a dead-letter topic
   * cannot show you payloads that do not decode (it drops them with a `dropped` event).
   *
   * @example
   * bus.deadLetters<Order>('orders', { group: 'audit' }).subscribe(async (d) => {
   *   const { errorName, errorMessage, value, raw } = d.message.payload
   *   await audit.record({ errorName, errorMessage, order: value, bytes: raw.length })
   *   await d.ack()
   * })
   */
  deadLetters<T = unknown>(
    topic: string,
    options: ConsumeOptions<T> = {},
  ): Observable<DeadLetterDelivery<T>> {
    return defer(() => {
      if (this.#runtime.closed) throw this.#runtime.closedError(`read dead letters of ${topic}`)
      const subscribe = subscribeOptionsOf('dead-letter options', options as ConsumeOptions<unknown>)
      const dlq = this.#runtime.deadLetterTopicFor(topic, options.deadLetterTopic)
      this.#checkTopic(dlq)
      const codec = (options.codec ?? this.#runtime.codec) as Codec<T>
      // Reading a dead letter never fails (a payload the codec refuses becomes `decodeError`), so
      // the consume machinery never dead-letters anything read here.
      const reader: Codec<DeadLetter<T>> = {
        contentType: codec.contentType,
        encode: () => {
          throw new ConfigError('dead-letter reader', ['cannot publish DeadLetter views'])
        },
        decode: (_bytes, message) => readDeadLetter(message, codec),
      }
      return this.transport
        .subscribe(dlq, subscribe)
        .pipe(
          decodeDeliveries(
            this.#runtime,
            reader,
            { kind: 'dead-letters', topic: dlq, group: subscribe.group },
            undefined,
          ),
        )
    })
  }

  /**
   * Runs `handler` for every message of `topic`, settling each delivery from the outcome (see the
   * class doc). Throws `InvalidTopicError`, `ConfigError` (naming the bad field) or
   * `TransportClosedError` at once; failures while running become `events$`.
   */
  handle<K extends RegisteredTopic>(
    topic: K,
    options: HandleOptions<TopicPayload<K>>,
    handler: Handler<TopicPayload<K>>,
  ): HandlerSubscription
  handle<T = unknown, S extends string = string>(
    topic: S & UnregisteredTopic<S>,
    options: HandleOptions<T>,
    handler: Handler<T>,
  ): HandlerSubscription
  handle<T>(topic: string, options: HandleOptions<T>, handler: Handler<T>): HandlerSubscription {
    if (this.#runtime.closed) throw this.#runtime.closedError(`handle ${topic}`)
    this.#checkTopic(topic)
    if (typeof handler !== 'function') {
      throw new ConfigError('handle options', ['handler must be a function'], {
        context: { field: 'handler' },
      })
    }
    const checked = checkHandleOptions(options as HandleOptions<unknown>)
    const codec = (options.codec ?? this.#runtime.codec) as Codec<T>
    const own = options.middleware === undefined ? [] : checkMiddleware('handle options', options.middleware)
    const chain = buildChain(this.#runtime, checked, codec, options.deadLetterTopic, own, handler)
    const run = new HandlerRun(this.#runtime, topic, checked, chain, (ended) => this.#handlers.delete(ended))
    if (!run.ended) this.#handlers.add(run)
    return run
  }

  /**
   * Runs `handler` on batches of up to `maxSize` messages of `topic` (or what arrived within
   * `maxWaitMs`) and settles each message from its own outcome: `ack`, `retry` (the retry policy
   * applies per message, ending in a dead letter after its attempts) or `dead-letter`. Resolve with
   * nothing to ack the whole batch; throw to fail every message of it. Backpressure and drain are
   * those of `handle` (in-flight limit at least `maxSize`; `stop()`/`close()` wait for the running
   * batch). Throws `ConfigError` or `InvalidTopicError` at once.
   *
   * @example
   * bus.handleBatch<Row>('rows', { group: 'loader', maxSize: 500, maxWaitMs: 200 }, async (messages) => {
   *   const results = await db.insertMany(messages.map((m) => m.payload))
   *   return results.map((r) => (r.ok ? Outcome.ack() : Outcome.retry(0, r.error)))
   * })
   */
  handleBatch<T = unknown>(
    topic: string,
    options: BatchHandleOptions<T>,
    handler: BatchHandler<T>,
  ): HandlerSubscription {
    if (this.#runtime.closed) throw this.#runtime.closedError(`handle ${topic}`)
    this.#checkTopic(topic)
    const run: HandlerSubscription = new BatchRun(
      this.#runtime,
      this.transport,
      topic,
      options,
      handler,
      () => this.#handlers.delete(run),
    )
    this.#handlers.add(run)
    return run
  }

  /**
   * Sends a request to `topic` and resolves with the decoded payload of its reply.
   *
   * **Details:** the request is an ordinary message with a correlation id, this Bus's reply topic
   * and the caller's deadline in headers (`RequestHeaders`); the reply comes back to this instance
   * only. Rejects with `TimeoutError` when no reply arrives within `timeoutMs` (default 30,000),
   * `NoResponderError` when the broker can tell that nothing consumes `topic` (RabbitMQ with
   * `mandatory`), `RemoteHandlerError` (with the remote error's name and message) when the
   * responder's handler threw, `CancelledError` when `signal` aborts, and the errors of `publish`.
   * The first request attaches the reply subscription (a broker round trip, seconds on Kafka).
   * A request is delivered at least once: a responder may see it twice; the first reply wins.
   *
   * @example
   * const talents = await bus.request<Talent[]>('search.talents', { skill: 'bass' }, { timeoutMs: 5_000 })
   */
  request<R = unknown>(topic: string, payload: unknown, options?: RequestOptions<R>): Promise<R> {
    if (this.#runtime.closed) return Promise.reject(this.#runtime.closedError('request'))
    this.#inbox ??= new ReplyInbox(this.#requestPort())
    return this.#inbox.request(topic, payload, options)
  }

  /**
   * Answers requests on `topic`: `handler`'s resolved value is published to the requester as the
   * reply; if it throws, its error's name and message travel back (`RemoteHandlerError` at the
   * caller) and the request is acknowledged, not retried. Runs under `handle` with `options`
   * (group, concurrency, timeout, middleware); a failure to publish the reply is retried like a
   * handler failure. Requests whose caller's deadline has passed are acknowledged unanswered;
   * messages without a reply address run `handler` with no reply.
   *
   * @example
   * await bus.reply<Query, Talent[]>('search.talents', { group: 'search' }, (m) => index.find(m.payload)).ready
   */
  reply<T = unknown, R = unknown>(
    topic: string,
    options: ReplyOptions<T, R>,
    handler: ReplyHandler<T, R>,
  ): HandlerSubscription {
    if (typeof handler !== 'function') {
      throw new ConfigError('reply options', ['handler must be a function'], {
        context: { field: 'handler' },
      })
    }
    const handle = this.handle as (t: string, o: HandleOptions<T>, h: Handler<T>) => HandlerSubscription
    return handle.call(this, topic, options, replyingHandler(this.#requestPort(), options, handler))
  }

  #requestPort(): RequestBusPort {
    const publish = this.publish as (t: string, p: unknown, o: PublishOptions<unknown>) => Promise<void>
    return {
      transport: this.transport,
      codec: this.#runtime.codec as Codec<unknown>,
      publish: (topic, payload, options) => publish.call(this, topic, payload, options),
    }
  }

  /**
   * The supervision policy (as data) and the state of every `handle` subscription it supervises:
   * `running`, `restarting` (waiting for its backoff), `failed` or `stopped`, with restart counts.
   * `escalated: true` once the restart budget was exceeded (report the process unhealthy).
   * `undefined` with `supervision: false`.
   */
  supervision(): SupervisionReport | undefined {
    return this.#runtime.supervisor?.report()
  }

  /**
   * Completes every `consume`/`messages`/`deadLetters` stream, stops every `handle` (draining, up
   * to `timeoutMs`), then — only with `closeTransport: true` — closes the transport with the same
   * options, and completes `events$`. Idempotent. Afterwards publish rejects and handle throws
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
    await Promise.all([
      ...[...this.#handlers].map((run) => run.stop(stop)),
      ...[...this.#runtime.streams].map((stream) => stream.drain(timeoutMs ?? defaultDrainTimeoutMs)),
    ])
    try {
      await this.#inbox?.close()
      if (this.#runtime.closeTransport) await this.transport.close(options)
    } finally {
      this.#runtime.log?.stop()
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
    const { id, key, priority } = options
    const own = checkPublishOptions(options)
    let all: Readonly<Record<string, string>>
    if (own === undefined) {
      all = this.#codecHeaders(codec as Codec<unknown>)
    } else {
      // The user's own content-type wins (e.g. a charset parameter); the codec's fills it in otherwise.
      own[contentTypeHeader] ??= codec.contentType
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
