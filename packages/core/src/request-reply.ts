/**
 * Request–reply on any transport: `Bus.request` and `Bus.reply` are built here on the Bus's own
 * `publish` and `handle` and the SPI's `subscribe`, so they behave alike on every broker.
 *
 * A request is an ordinary message on its topic with three headers: a correlation id, the reply
 * address (the requesting Bus's own reply topic) and the caller's deadline. The reply topic is one
 * per `Bus` instance (`switchyard.reply.<uuid>`), read through an ephemeral subscription (RabbitMQ:
 * an exclusive auto-delete queue; Kafka: a topic of its own read from its end; memory: a private
 * queue), so a reply reaches the instance that asked and nobody else. The responder runs under
 * `handle` (group, concurrency, timeout as usual) and publishes the handler's return value, or the
 * name and message of what it threw, to the reply address.
 */
import type { Subscription } from 'rxjs'
import type { Codec, HandleOptions, HandlerContext, PublishOptions } from './bus-options.js'
import { bytesCodec } from './codecs.js'
import {
  CancelledError,
  ConfigError,
  isSwitchyardError,
  TimeoutError,
  TransportClosedError,
  toError,
} from './errors.js'
import { SwitchyardHeaders } from './headers.js'
import type { Delivery, Message } from './message.js'
import { nextMessageId } from './message-id.js'
import { isUnroutable, NoResponderError, RemoteHandlerError } from './request-reply-errors.js'
import type { Transport } from './transport.js'

/** The headers of request–reply (lower case, reserved prefix). */
export const RequestHeaders = {
  /** Ties a reply to its request: the same value on both. */
  correlationId: 'x-switchyard-correlation-id',
  /** The topic the reply goes to: the requesting instance's reply topic. */
  replyTo: 'x-switchyard-reply-to',
  /** Ms since the epoch after which the caller no longer waits; a responder skips later requests. */
  deadline: 'x-switchyard-deadline',
  /** On a reply: `ok` (the payload is the answer) or `error` (see the error headers). */
  replyStatus: 'x-switchyard-reply-status',
} as const

/** Default wait of `Bus.request` for its reply. */
export const defaultRequestTimeoutMs = 30_000
const maxRemoteMessage = 1_000
const emptyPayload = new Uint8Array(0)

/** Options of `Bus.request`. */
export interface RequestOptions<R = unknown> {
  /** Longest wait for the reply, in ms, from the call (default 30,000). Then `TimeoutError`. */
  readonly timeoutMs?: number
  /** Aborting it rejects the request with `CancelledError` (a late reply is ignored). */
  readonly signal?: AbortSignal
  /** Ordering / partitioning key of the request message. */
  readonly key?: string
  /** Extra headers of the request message (the responder sees them). */
  readonly headers?: Readonly<Record<string, string>>
  /** Codec of the request payload (default: the Bus codec). */
  readonly codec?: Codec<unknown>
  /** Codec of the reply payload (default: the Bus codec); a reply it cannot decode rejects with `DecodeError`. */
  readonly replyCodec?: Codec<R>
}

/** Options of `Bus.reply`: those of `handle`, plus the codec of the replies. */
export interface ReplyOptions<T = unknown, R = unknown> extends HandleOptions<T> {
  /** Codec of the reply payload (default: the Bus codec). */
  readonly replyCodec?: Codec<R>
}

/** Answers one request: the resolved value is the reply; a throw travels back as `RemoteHandlerError`. */
export type ReplyHandler<T, R> = (message: Message<T>, context: HandlerContext) => R | Promise<R>

/** What a `Bus` lends to request–reply: its codec and its own publish. */
export interface RequestBusPort {
  readonly transport: Transport
  readonly codec: Codec<unknown>
  publish(topic: string, payload: unknown, options: PublishOptions<unknown>): Promise<void>
}

interface Pending {
  readonly topic: string
  readonly codec: Codec<unknown>
  resolve(value: unknown): void
  reject(error: Error): void
}

function checkTimeout(timeoutMs: unknown): number {
  if (timeoutMs === undefined) return defaultRequestTimeoutMs
  if (typeof timeoutMs === 'number' && Number.isFinite(timeoutMs) && timeoutMs > 0) return timeoutMs
  throw new ConfigError('request options', [`timeoutMs must be a number > 0, got ${String(timeoutMs)}`], {
    context: { field: 'timeoutMs' },
  })
}

/**
 * The requesting side of one Bus: its reply topic, its reply subscription (attached on the first
 * request) and the requests waiting for a reply.
 */
export class ReplyInbox {
  /** This instance's reply topic. */
  readonly topic = `switchyard.reply.${nextMessageId()}`
  readonly #bus: RequestBusPort
  readonly #pending = new Map<string, Pending>()
  #ready: Promise<void> | undefined
  #subscription: Subscription | undefined
  #closed = false

  constructor(bus: RequestBusPort) {
    this.#bus = bus
  }

  /** Requests waiting for their reply now. */
  get waiting(): number {
    return this.#pending.size
  }

  request<R>(topic: string, payload: unknown, options: RequestOptions<R> = {}): Promise<R> {
    let timeoutMs: number
    try {
      timeoutMs = checkTimeout(options.timeoutMs)
    } catch (error) {
      return Promise.reject(error)
    }
    const { signal } = options
    if (signal?.aborted) {
      return Promise.reject(
        new CancelledError(`Request to ${JSON.stringify(topic)}`, {
          cause: signal.reason,
          context: { topic },
        }),
      )
    }
    const correlationId = nextMessageId()
    const deadline = Date.now() + timeoutMs
    return new Promise<R>((resolve, reject) => {
      const finish = (): void => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        this.#pending.delete(correlationId)
      }
      const fail = (error: Error): void => {
        finish()
        reject(error)
      }
      const timer = setTimeout(
        () =>
          fail(
            new TimeoutError(`Request to ${JSON.stringify(topic)}`, timeoutMs, {
              context: { topic, correlationId },
            }),
          ),
        timeoutMs,
      )
      const onAbort = (): void =>
        fail(
          new CancelledError(`Request to ${JSON.stringify(topic)}`, {
            cause: signal?.reason,
            context: { topic },
          }),
        )
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#pending.set(correlationId, {
        topic,
        codec: (options.replyCodec ?? this.#bus.codec) as Codec<unknown>,
        resolve: (value) => {
          finish()
          resolve(value as R)
        },
        reject: fail,
      })
      const headers: Record<string, string> = {
        ...options.headers,
        [RequestHeaders.correlationId]: correlationId,
        [RequestHeaders.replyTo]: this.topic,
        [RequestHeaders.deadline]: String(deadline),
      }
      const publishOptions: PublishOptions<unknown> = { headers }
      if (options.key !== undefined) Object.assign(publishOptions, { key: options.key })
      if (options.codec !== undefined) Object.assign(publishOptions, { codec: options.codec })
      this.#attach()
        .then(() => {
          if (!this.#pending.has(correlationId)) return
          return this.#bus.publish(topic, payload, publishOptions)
        })
        .catch((error: unknown) => {
          if (!this.#pending.has(correlationId)) return
          fail(isUnroutable(error) ? new NoResponderError(topic, { cause: error }) : toError(error))
        })
    })
  }

  /** Subscribes to the reply topic once; resolves when the broker delivers to it. */
  #attach(): Promise<void> {
    if (this.#closed) return Promise.reject(new TransportClosedError('send a request'))
    this.#ready ??= new Promise<void>((resolve, reject) => {
      this.#subscription = this.#bus.transport
        .subscribe(this.topic, { inFlight: 1_000, onReady: resolve })
        .subscribe({
          next: (delivery) => this.#onReply(delivery),
          error: (error: unknown) => {
            const failure = toError(error)
            this.#ready = undefined
            reject(failure)
            for (const pending of [...this.#pending.values()]) pending.reject(failure)
          },
        })
    })
    return this.#ready
  }

  #onReply(delivery: Delivery): void {
    delivery.ack().catch(() => {
      // A reply is consumed once it is read; a failed ack only means the broker may redeliver it,
      // and a second copy finds no waiting request.
    })
    const message = delivery.message
    const correlationId = message.headers[RequestHeaders.correlationId]
    const pending = correlationId === undefined ? undefined : this.#pending.get(correlationId)
    if (pending === undefined) return // late (timed out, cancelled) or duplicate
    if (message.headers[RequestHeaders.replyStatus] === 'error') {
      pending.reject(
        new RemoteHandlerError(
          pending.topic,
          message.headers[SwitchyardHeaders.errorName] ?? 'Error',
          message.headers[SwitchyardHeaders.errorMessage] ?? '',
          {
            retryable: message.headers[SwitchyardHeaders.errorRetryable] === 'true',
            context: { correlationId },
          },
        ),
      )
      return
    }
    try {
      pending.resolve(pending.codec.decode(message.payload, message as Message<Uint8Array>))
    } catch (error) {
      pending.reject(toError(error))
    }
  }

  /** Rejects waiting requests with `TransportClosedError`, detaches and deletes the reply topic. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    const closed = new TransportClosedError('wait for a reply', { context: { operation: 'request' } })
    for (const pending of [...this.#pending.values()]) pending.reject(closed)
    const subscription = this.#subscription
    if (subscription === undefined) return
    subscription.unsubscribe()
    const transport = this.#bus.transport
    try {
      await transport.whenDetached?.()
      if (transport.capabilities.persistent) await transport.deprovision(this.topic)
    } catch {
      // Closing the Bus never fails for this: a transport closed first took its ephemeral
      // subscription with it, and a reply topic left on an unreachable broker holds no one's data.
    }
  }
}

/**
 * The `handle` handler behind `Bus.reply`: runs `handler` and publishes its result (or its error)
 * to the request's reply address. A message without a reply address is handled without a reply;
 * one whose caller's deadline has passed is acknowledged without running `handler`.
 */
export function replyingHandler<T, R>(
  bus: RequestBusPort,
  options: ReplyOptions<T, R>,
  handler: ReplyHandler<T, R>,
): (message: Message<T>, context: HandlerContext) => Promise<void> {
  const replyCodec = (options.replyCodec ?? bus.codec) as Codec<unknown>
  return async (message, context) => {
    const replyTo = message.headers[RequestHeaders.replyTo]
    const correlationId = message.headers[RequestHeaders.correlationId]
    if (replyTo === undefined || correlationId === undefined) {
      await handler(message, context)
      return
    }
    const deadline = Number(message.headers[RequestHeaders.deadline])
    if (Number.isFinite(deadline) && Date.now() > deadline) return // nobody waits for this answer
    let result: R
    try {
      result = await handler(message, context)
    } catch (thrown) {
      const error = toError(thrown)
      await bus.publish(replyTo, emptyPayload, {
        codec: bytesCodec as Codec<unknown>,
        headers: {
          [RequestHeaders.correlationId]: correlationId,
          [RequestHeaders.replyStatus]: 'error',
          [SwitchyardHeaders.errorName]: error.name,
          [SwitchyardHeaders.errorMessage]: error.message.slice(0, maxRemoteMessage),
          [SwitchyardHeaders.errorRetryable]: String(isSwitchyardError(error) && error.retryable),
        },
      })
      return
    }
    await bus.publish(replyTo, result, {
      codec: replyCodec,
      headers: { [RequestHeaders.correlationId]: correlationId, [RequestHeaders.replyStatus]: 'ok' },
    })
  }
}
