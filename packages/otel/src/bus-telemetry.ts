/**
 * `BusTelemetry`: OpenTelemetry traces and metrics for a `Bus`, as one handler `Middleware` and
 * one `PublishInterceptor`, written once for every transport.
 *
 * Producer side (the interceptor): a `send {topic}` PRODUCER span per publish call whose context
 * goes into the message headers (W3C `traceparent`/`tracestate` through the propagation API); for
 * a call with several messages (`publishBatch`, a batch of dead letters) a `create {topic}` span
 * per message gives each its own context and the `send` span (CLIENT) links to all of them.
 * Consumer side (the middleware): a `process {topic}` CONSUMER span per handler run, child of (or
 * only linked to) the producer context read from the headers, with retries, dead-lettering and
 * drops as span events and errors recorded. `consume`/`messages`/`deadLetters` streams (the
 * consume interceptor): a `process {topic}` span per delivery from its hand-out to the settle the
 * application calls, active while the stream's subscriber runs synchronously, with an `ack`/`nack`
 * CLIENT span around the settle itself. Metrics follow the messaging conventions plus Switchyard's
 * own counters. It exports nothing: the application brings the SDK.
 */
import {
  type Attributes,
  type Context,
  context,
  type Link,
  metrics as metricsApi,
  propagation,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  SpanKind,
  SpanStatusCode,
  type TextMapPropagator,
  type Tracer,
  trace,
} from '@opentelemetry/api'
import type {
  BusOptions,
  ConsumeInterceptor,
  ConsumeNext,
  ConsumeStream,
  Delivery,
  HandleContext,
  HandlerOutcome,
  HealthReport,
  Message,
  Middleware,
  NackOptions,
  OutgoingMessage,
  PublishInterceptor,
  PublishNext,
} from '@switchyard/core'
import { SwitchyardHeaders } from '@switchyard/core'
import { headersGetter, headersSetter } from './headers-carrier.js'
import {
  MessagingAttributes as A,
  LegacyMessagingAttributes as Legacy,
  messagingSystemOf,
  SwitchyardTelemetry as S,
  type SemconvMode,
  semconvModeFrom,
} from './semconv.js'
import { type ObservedSum, type Series, TelemetryMetrics } from './telemetry-metrics.js'
import type { BusTelemetryOptions } from './telemetry-options.js'

const scopeName = '@switchyard/otel'
const scopeVersion = '0.1.0'
/** Distinct (topic, group) shapes kept before the cache starts over (pattern subscriptions may see many topics). */
const maxShapes = 1000

/** What is the same for every message of one topic (and group): names and attribute sets. */
interface Shape {
  /** Names the shape among its kind (producer or consumer): the key of its metric series. */
  readonly key: string
  readonly spanName: string
  /** Span attributes shared by every message of the shape. */
  readonly span: Attributes
  /** Metric attributes (low cardinality: no ids, keys or sizes). */
  readonly metric: Attributes
  /** `metric` plus `messaging.operation.type`, for the duration histograms. */
  readonly duration: Attributes
}

/** A topic's producer shape, with the name and attributes of its `create` spans. */
interface ProducerShape extends Shape {
  readonly createName: string
  readonly create: Attributes
}

/**
 * Traces and metrics for a `Bus`, following the OpenTelemetry messaging semantic conventions.
 *
 * **When to use:** in every service that runs a `Bus` and exports telemetry. Create one per
 * transport and pass its `busOptions` (or `middleware` and `publishInterceptor`) to the `Bus`.
 *
 * **Details:** depends on `@opentelemetry/api` only; without a registered SDK every call is a
 * no-op. Spans and metrics use the topic and group Switchyard exposes (not the broker's exchange
 * or queue names), so dashboards are the same on every transport. See the README for every span,
 * attribute and metric.
 *
 * @example
 * const telemetry = new BusTelemetry(transport)
 * const bus = new Bus(transport, { ...telemetry.busOptions })
 * // or, beside your own middleware:
 * const bus2 = new Bus(transport, {
 *   middleware: [telemetry.middleware, audit],
 *   publishInterceptors: [telemetry.publishInterceptor],
 * })
 */
export class BusTelemetry {
  /** `messaging.system` written on every span and metric. */
  readonly system: string
  /** Attribute names written (`current`, or `dup` with the v1.24 names beside them). */
  readonly semconv: SemconvMode
  /** Put it first in `BusOptions.middleware` so its span covers the other middleware. */
  readonly middleware: Middleware
  /** Put it first in `BusOptions.publishInterceptors`. */
  readonly publishInterceptor: PublishInterceptor
  /** Put it first in `BusOptions.consumeInterceptors`: spans and metrics for `consume` streams. */
  readonly consumeInterceptor: ConsumeInterceptor

  readonly #tracer: Tracer | undefined
  readonly #metrics: TelemetryMetrics | undefined
  readonly #propagator: TextMapPropagator
  readonly #childOfProducer: boolean
  readonly #createSpans: boolean
  readonly #consumerShapes = new Map<string, Shape>()
  readonly #producerShapes = new Map<string, ProducerShape>()

  /**
   * `transport`: the transport the Bus runs on, for `messaging.system` (its `kind`) and the
   * consumer-lag gauge (its `health()`, read when the SDK collects metrics).
   */
  constructor(
    transport: { readonly kind: string; health?(): Promise<HealthReport> },
    options: BusTelemetryOptions = {},
  ) {
    this.system = options.system ?? messagingSystemOf(transport.kind)
    this.semconv = options.semconv ?? semconvModeFrom(readOptIn())
    this.#childOfProducer = (options.processParent ?? 'child') === 'child'
    this.#createSpans = options.batchCreateSpans ?? true
    this.#propagator = options.propagator ?? propagation
    this.#tracer =
      options.traces === false
        ? undefined
        : (options.tracerProvider ?? trace.getTracerProvider()).getTracer(scopeName, scopeVersion)
    this.#metrics =
      options.metrics === false
        ? undefined
        : new TelemetryMetrics(
            (options.meterProvider ?? metricsApi.getMeterProvider()).getMeter(scopeName, scopeVersion),
            this.system,
            typeof transport.health === 'function'
              ? () => (transport.health as () => Promise<HealthReport>)()
              : undefined,
          )
    this.middleware = (next) => (ctx) => this.#process(next, ctx)
    this.publishInterceptor = (next) => (messages) => this.#send(next, messages)
    this.consumeInterceptor = (next, stream) =>
      this.#tracer === undefined && this.#metrics === undefined
        ? next
        : (delivery) => this.#handOut(next, stream, delivery)
  }

  /** `{ middleware, publishInterceptors, consumeInterceptors }` to spread into `BusOptions`. */
  get busOptions(): Pick<BusOptions, 'middleware' | 'publishInterceptors' | 'consumeInterceptors'> {
    return {
      middleware: [this.middleware],
      publishInterceptors: [this.publishInterceptor],
      consumeInterceptors: [this.consumeInterceptor],
    }
  }

  /**
   * The producer's span context carried by `headers` (what a process span is a child of), or
   * `undefined`. For code that reads messages some other way and starts its own spans.
   */
  producerContext(headers: Readonly<Record<string, string>>): SpanContext | undefined {
    return this.#carried(headers)
  }

  /**
   * The context of a stream delivery's process span (`undefined` for a delivery this telemetry did
   * not hand out, or with traces off). For `for await (const d of bus.messages(…))` loops, whose
   * body runs after the hand-out and so outside the span: `context.with(telemetry.contextOf(d) ??
   * context.active(), () => work(d))`.
   */
  contextOf(delivery: Delivery<unknown>): Context | undefined {
    return delivery instanceof TelemetryDelivery ? delivery.context : undefined
  }

  // ---- producer side ----

  #send(next: PublishNext, messages: readonly OutgoingMessage[]): Promise<void> {
    const metrics = this.#metrics
    const tracer = this.#tracer
    if (metrics === undefined && tracer === undefined) return next(messages)
    const started = metrics === undefined ? 0 : performance.now()
    let span: Span | undefined
    let result: Promise<void>
    try {
      if (tracer === undefined) {
        result = next(messages)
      } else {
        const parent = context.active()
        const traced =
          messages.length === 1
            ? this.#sendOne(tracer, parent, messages[0] as OutgoingMessage)
            : this.#createSpans
              ? this.#sendMany(tracer, parent, messages)
              : this.#sendShared(tracer, parent, messages)
        span = traced.span
        result = context.with(trace.setSpan(parent, span), next, undefined, traced.messages)
      }
    } catch (thrown) {
      this.#sent(messages, span, started, toError(thrown))
      throw thrown
    }
    return result.then(
      () => this.#sent(messages, span, started, undefined),
      (thrown: unknown) => {
        this.#sent(messages, span, started, toError(thrown))
        throw thrown
      },
    )
  }

  /** One message: its `send` span is its creation context. */
  #sendOne(
    tracer: Tracer,
    parent: Context,
    message: OutgoingMessage,
  ): { span: Span; messages: OutgoingMessage[] } {
    const shape = this.#producerShape(message.topic)
    const carried = message.headers.traceparent === undefined ? undefined : this.#carried(message.headers)
    const options = { kind: SpanKind.PRODUCER, attributes: shape.span }
    const span = tracer.startSpan(
      shape.spanName,
      carried === undefined ? options : { ...options, links: [{ context: carried }] },
      carried !== undefined && (trace.getSpan(parent) === undefined || isDeadLetterCopy(message))
        ? trace.setSpanContext(parent, carried)
        : parent,
    )
    this.#setMessageAttributes(span, message, message.payload.byteLength)
    return { span, messages: [this.#inject(message, trace.setSpan(parent, span))] }
  }

  /** Several messages: a `create` span per message (its creation context), one `send` span linking them. */
  #sendMany(
    tracer: Tracer,
    parent: Context,
    messages: readonly OutgoingMessage[],
  ): { span: Span; messages: OutgoingMessage[] } {
    const links: Link[] = new Array(messages.length)
    const out: OutgoingMessage[] = new Array(messages.length)
    const hasParent = trace.getSpan(parent) !== undefined
    let topic: string | undefined = (messages[0] as OutgoingMessage).topic
    for (let i = 0; i < messages.length; i++) {
      const message = messages[i] as OutgoingMessage
      if (message.topic !== topic) topic = undefined
      const shape = this.#producerShape(message.topic)
      const carried = message.headers.traceparent === undefined ? undefined : this.#carried(message.headers)
      const attributes = shape.create
      const create = tracer.startSpan(
        shape.createName,
        carried === undefined
          ? { kind: SpanKind.PRODUCER, attributes }
          : { kind: SpanKind.PRODUCER, attributes, links: [{ context: carried }] },
        carried !== undefined && (!hasParent || isDeadLetterCopy(message))
          ? trace.setSpanContext(parent, carried)
          : parent,
      )
      this.#setMessageAttributes(create, message, message.payload.byteLength)
      create.end()
      links[i] = { context: create.spanContext() }
      out[i] = this.#inject(message, trace.setSpan(parent, create))
    }
    const span = tracer.startSpan(
      topic === undefined ? 'send' : `send ${topic}`,
      { kind: SpanKind.CLIENT, attributes: this.#batchAttributes(topic, messages.length), links },
      parent,
    )
    return { span, messages: out }
  }

  /**
   * Several messages, `batchCreateSpans: false`: one `send` span (PRODUCER) is the creation
   * context of every message, linked to the contexts they already carried.
   */
  #sendShared(
    tracer: Tracer,
    parent: Context,
    messages: readonly OutgoingMessage[],
  ): { span: Span; messages: OutgoingMessage[] } {
    const links: Link[] = []
    let topic: string | undefined = (messages[0] as OutgoingMessage).topic
    for (const message of messages) {
      if (message.topic !== topic) topic = undefined
      const carried = message.headers.traceparent === undefined ? undefined : this.#carried(message.headers)
      if (carried !== undefined) links.push({ context: carried })
    }
    const span = tracer.startSpan(
      topic === undefined ? 'send' : `send ${topic}`,
      { kind: SpanKind.PRODUCER, attributes: this.#batchAttributes(topic, messages.length), links },
      parent,
    )
    const ctx = trace.setSpan(parent, span)
    const out: OutgoingMessage[] = new Array(messages.length)
    for (let i = 0; i < messages.length; i++) out[i] = this.#inject(messages[i] as OutgoingMessage, ctx)
    return { span, messages: out }
  }

  #batchAttributes(topic: string | undefined, count: number): Attributes {
    const attributes: Attributes = {
      [A.system]: this.system,
      [A.operationType]: 'send',
      [A.operationName]: 'send',
      [A.batchMessageCount]: count,
    }
    if (topic !== undefined) attributes[A.destinationName] = topic
    if (this.semconv === 'dup') attributes[Legacy.operation] = 'publish'
    return attributes
  }

  #sent(
    messages: readonly OutgoingMessage[],
    span: Span | undefined,
    started: number,
    error: Error | undefined,
  ): void {
    const metrics = this.#metrics
    if (metrics !== undefined) {
      const seconds = (performance.now() - started) / 1000
      let topic: string | undefined = (messages[0] as OutgoingMessage | undefined)?.topic
      for (const message of messages) {
        if (message.topic !== topic) {
          topic = undefined
          break
        }
      }
      if (topic !== undefined) {
        // One topic (the usual case): one count for the whole call.
        sumOf(metrics.sent, this.#producerShape(topic), error).value += messages.length
      } else {
        for (const message of messages) sumOf(metrics.sent, this.#producerShape(message.topic), error).value++
      }
      const duration =
        topic === undefined
          ? { [A.system]: this.system, [A.operationType]: 'send', [A.operationName]: 'send' }
          : this.#producerShape(topic).duration
      metrics.operationDuration.record(
        seconds,
        error === undefined ? duration : withErrorType(duration, error),
      )
    }
    if (span !== undefined) {
      if (error !== undefined) failSpan(span, error)
      span.end()
    }
  }

  #inject(message: OutgoingMessage, ctx: Context): OutgoingMessage {
    const headers: Record<string, string> = { ...message.headers }
    this.#propagator.inject(ctx, headers, headersSetter)
    return { ...message, headers }
  }

  #producerShape(topic: string): ProducerShape {
    let shape = this.#producerShapes.get(topic)
    if (shape === undefined) {
      if (this.#producerShapes.size >= maxShapes) this.#producerShapes.clear()
      const metric: Attributes = {
        [A.system]: this.system,
        [A.destinationName]: topic,
        [A.operationName]: 'send',
      }
      const span: Attributes = { ...metric, [A.operationType]: 'send' }
      if (this.system === 'rabbitmq') span[A.rabbitmqRoutingKey] = topic
      if (this.semconv === 'dup') span[Legacy.operation] = 'publish'
      const create: Attributes = { ...span, [A.operationType]: 'create', [A.operationName]: 'create' }
      shape = {
        key: topic,
        spanName: `send ${topic}`,
        span,
        metric,
        duration: { ...metric, [A.operationType]: 'send' },
        createName: `create ${topic}`,
        create,
      }
      this.#producerShapes.set(topic, shape)
    }
    return shape
  }

  // ---- consumer side ----

  #process(
    next: (ctx: HandleContext) => HandlerOutcome | Promise<HandlerOutcome>,
    ctx: HandleContext,
  ): HandlerOutcome | Promise<HandlerOutcome> {
    const shape = this.#consumerShape(ctx.topic, ctx.raw.topic, ctx.group)
    const metrics = this.#metrics
    const tracer = this.#tracer
    if (metrics !== undefined) {
      metrics.consumed.series(shape.key, shape.metric).value++
      metrics.inFlight.series(shape.key, shape.metric).value++
    }
    const started = metrics === undefined ? 0 : performance.now()
    let span: Span | undefined
    let result: HandlerOutcome | Promise<HandlerOutcome>
    try {
      if (tracer === undefined) {
        result = next(ctx)
      } else {
        const started = this.#startProcess(tracer, shape, ctx.raw, ctx.raw.payload.byteLength)
        span = started.span
        result = context.with(started.context, next, undefined, ctx)
      }
    } catch (thrown) {
      this.#processed(shape, span, started, undefined, toError(thrown))
      throw thrown
    }
    if (result instanceof Promise) {
      return result.then(
        (outcome) => this.#processed(shape, span, started, outcome, undefined),
        (thrown: unknown) => {
          this.#processed(shape, span, started, undefined, toError(thrown))
          throw thrown
        },
      )
    }
    return this.#processed(shape, span, started, result, undefined)
  }

  /**
   * Starts the process span of one message. The message's context is its only parent: the context
   * active here is whatever the consumer loop inherited (the code that called `handle` or
   * `subscribe`, or on memory the publisher), never the cause of this message.
   */
  #startProcess(
    tracer: Tracer,
    shape: Shape,
    message: Message<unknown>,
    bodySize: number | undefined,
  ): { span: Span; context: Context } {
    const extracted =
      message.headers.traceparent === undefined
        ? undefined
        : this.#propagator.extract(ROOT_CONTEXT, message.headers, headersGetter)
    const producer = extracted === undefined ? undefined : validSpanContext(trace.getSpanContext(extracted))
    let parent = ROOT_CONTEXT
    if (extracted !== undefined) {
      parent = producer !== undefined && this.#childOfProducer ? extracted : trace.deleteSpan(extracted)
    }
    const attributes = shape.span
    const span = tracer.startSpan(
      shape.spanName,
      producer === undefined
        ? { kind: SpanKind.CONSUMER, attributes }
        : { kind: SpanKind.CONSUMER, attributes, links: [{ context: producer }] },
      parent,
    )
    if (this.#setMessageAttributes(span, message, bodySize)) span.setAttribute(S.attempt, message.attempt)
    return { span, context: trace.setSpan(parent, span) }
  }

  /**
   * One delivery of a `consume`/`messages`/`deadLetters` stream: its process span (and the
   * duration metric) runs from the hand-out to the end of the settle the application calls; the
   * subscriber's synchronous code runs inside it. A delivery never settled (given back when the
   * stream ends) ends no span and records no duration.
   */
  #handOut(next: ConsumeNext, stream: ConsumeStream, delivery: Delivery<unknown>): void {
    const message = delivery.message
    const shape = this.#consumerShape(stream.topic, message.topic, stream.group)
    const metrics = this.#metrics
    if (metrics !== undefined) metrics.consumed.series(shape.key, shape.metric).value++
    const payload = message.payload
    const bodySize = payload instanceof Uint8Array ? payload.byteLength : undefined
    const tracer = this.#tracer
    const started = tracer === undefined ? undefined : this.#startProcess(tracer, shape, message, bodySize)
    const handedOut = metrics === undefined ? 0 : performance.now()
    const traced = new TelemetryDelivery(delivery, started?.context, (settle, outcome) =>
      this.#settle(shape, started, handedOut, settle, outcome),
    )
    if (started === undefined) next(traced)
    else context.with(started.context, next, undefined, traced)
  }

  /** Runs the application's settle inside its `ack`/`nack` span; ends the process span after it. */
  #settle(
    shape: Shape,
    process: { span: Span; context: Context } | undefined,
    handedOut: number,
    settle: () => Promise<void>,
    outcome: HandlerOutcome,
  ): Promise<void> {
    const tracer = this.#tracer
    const name = outcome.kind === 'ack' ? 'ack' : 'nack'
    const span =
      tracer === undefined || process === undefined || !process.span.isRecording()
        ? undefined
        : tracer.startSpan(
            `${name} ${shape.span[A.destinationName] as string}`,
            {
              kind: SpanKind.CLIENT,
              attributes: { ...shape.metric, [A.operationType]: 'settle', [A.operationName]: name },
            },
            process.context,
          )
    let result: Promise<void>
    try {
      result = settle()
    } catch (thrown) {
      result = Promise.reject(thrown)
    }
    return result.then(
      () => {
        span?.end()
        this.#processed(shape, process?.span, handedOut, outcome, undefined, false)
      },
      (thrown: unknown) => {
        const error = toError(thrown)
        if (span !== undefined) {
          failSpan(span, error)
          span.end()
        }
        this.#processed(shape, process?.span, handedOut, outcome, error, false)
        throw thrown
      },
    )
  }

  /** Records the end of one handler run; returns `outcome` unchanged. */
  #processed(
    shape: Shape,
    span: Span | undefined,
    started: number,
    outcome: HandlerOutcome | undefined,
    thrown: Error | undefined,
    handled = true,
  ): HandlerOutcome {
    // A stream's nack is the application's choice, not a failure this package can name.
    const error = thrown ?? (handled ? errorOf(outcome) : undefined)
    const metrics = this.#metrics
    if (metrics !== undefined) {
      if (handled) metrics.inFlight.series(shape.key, shape.metric).value--
      metrics.processDuration.record(
        (performance.now() - started) / 1000,
        error === undefined ? shape.duration : withErrorType(shape.duration, error),
      )
      if (outcome?.kind === 'retry') sumOf(metrics.retries, shape, error).value++
      else if (outcome?.kind === 'dead-letter') {
        sumOf(metrics.deadLetters, shape, error).value++
        if (outcome.reason.name === 'DecodeError')
          metrics.decodeFailures.series(shape.key, shape.metric).value++
      }
    }
    if (span !== undefined) {
      if (outcome !== undefined) {
        span.setAttribute(S.outcome, outcome.kind)
        if (outcome.kind === 'retry') span.addEvent(S.retryEvent, { [S.retryDelay]: outcome.delayMs })
        else if (outcome.kind === 'dead-letter') {
          span.addEvent(
            S.deadLetterEvent,
            outcome.topic === undefined ? {} : { [S.deadLetterTopic]: outcome.topic },
          )
        } else if (outcome.kind === 'drop') span.addEvent(S.dropEvent)
      }
      if (error !== undefined) failSpan(span, error)
      span.end()
    }
    return outcome as HandlerOutcome
  }

  #consumerShape(handled: string, topic: string, group: string | undefined): Shape {
    const key = group === undefined ? `${handled}\u0000${topic}` : `${handled}\u0000${topic}\u0000${group}`
    let shape = this.#consumerShapes.get(key)
    if (shape === undefined) {
      if (this.#consumerShapes.size >= maxShapes) this.#consumerShapes.clear()
      const metric: Attributes = {
        [A.system]: this.system,
        [A.destinationName]: topic,
        [A.operationName]: 'process',
      }
      if (handled !== topic) metric[A.destinationTemplate] = handled
      if (group !== undefined) metric[A.consumerGroupName] = group
      const span: Attributes = { ...metric, [A.operationType]: 'process' }
      if (this.system === 'rabbitmq') span[A.rabbitmqRoutingKey] = topic
      if (this.semconv === 'dup') {
        span[Legacy.operation] = 'process'
        if (group !== undefined && this.system === 'kafka') span[Legacy.kafkaConsumerGroup] = group
      }
      shape = {
        key,
        spanName: `process ${handled}`,
        span,
        metric,
        duration: { ...metric, [A.operationType]: 'process' },
      }
      this.#consumerShapes.set(key, shape)
    }
    return shape
  }

  // ---- shared ----

  /**
   * Sets the per-message attributes (id, body size, Kafka key) on a recording span; the shared
   * ones came with `startSpan`. Returns whether the span records.
   */
  #setMessageAttributes(
    span: Span,
    message: { readonly id: string; readonly key?: string | undefined },
    bodySize: number | undefined,
  ): boolean {
    if (!span.isRecording()) return false
    span.setAttribute(A.messageId, message.id)
    if (bodySize !== undefined) span.setAttribute(A.bodySize, bodySize)
    if (message.key !== undefined && this.system === 'kafka')
      span.setAttribute(A.kafkaMessageKey, message.key)
    return true
  }

  #carried(headers: Readonly<Record<string, string>>): SpanContext | undefined {
    return validSpanContext(
      trace.getSpanContext(this.#propagator.extract(ROOT_CONTEXT, headers, headersGetter)),
    )
  }
}

/**
 * A copy the Bus dead-lettered: it stays in the original message's trace (the context its headers
 * carry) even when another span is active around the publish (e.g. an in-process transport that
 * runs handlers inside the publisher's context).
 */
function isDeadLetterCopy(message: OutgoingMessage): boolean {
  return message.headers[SwitchyardHeaders.deadLetteredAt] !== undefined
}

function validSpanContext(spanContext: SpanContext | undefined): SpanContext | undefined {
  return spanContext !== undefined && trace.isSpanContextValid(spanContext) ? spanContext : undefined
}

function readOptIn(): string | undefined {
  return typeof process === 'undefined' ? undefined : process.env.OTEL_SEMCONV_STABILITY_OPT_IN
}

function errorOf(outcome: HandlerOutcome | undefined): Error | undefined {
  if (outcome === undefined) return undefined
  switch (outcome.kind) {
    case 'retry':
      return outcome.error ?? new Error('handler asked for a retry')
    case 'dead-letter':
      return outcome.reason
    default:
      return undefined
  }
}

/** The series of `shape` in `sum`, with `error.type` when `error` is given. */
function sumOf(sum: ObservedSum, shape: Shape, error: Error | undefined): Series {
  if (error === undefined) return sum.series(shape.key, shape.metric)
  const type = errorType(error)
  return sum.series(`${shape.key}\u0000${type}`, { ...shape.metric, [A.errorType]: type })
}

function withErrorType(attributes: Attributes, error: Error): Attributes {
  return { ...attributes, [A.errorType]: errorType(error) }
}

/** `error.type`: the error's `name` (low cardinality: `Error`, `TimeoutError`, `DecodeError`, …). */
function errorType(error: Error): string {
  return typeof error.name === 'string' && error.name.length > 0 ? error.name : '_OTHER'
}

function failSpan(span: Span, error: Error): void {
  span.recordException(error)
  span.setAttribute(A.errorType, errorType(error))
  span.setStatus({ code: SpanStatusCode.ERROR, message: error.message })
}

function toError(thrown: unknown): Error {
  return thrown instanceof Error ? thrown : new Error(String(thrown))
}

/**
 * The delivery a consume stream hands out with telemetry on: settles the original through
 * `settle`, which wraps the call in its span and ends the process span.
 */
class TelemetryDelivery implements Delivery<unknown> {
  /** The process span's context, with traces on. */
  readonly context: Context | undefined
  readonly #delivery: Delivery<unknown>
  readonly #settle: (settle: () => Promise<void>, outcome: HandlerOutcome) => Promise<void>
  #recorded = false

  constructor(
    delivery: Delivery<unknown>,
    spanContext: Context | undefined,
    settle: (settle: () => Promise<void>, outcome: HandlerOutcome) => Promise<void>,
  ) {
    this.context = spanContext
    this.#delivery = delivery
    this.#settle = settle
  }

  get message(): Message<unknown> {
    return this.#delivery.message
  }

  get settled(): boolean {
    return this.#delivery.settled
  }

  ack(): Promise<void> {
    return this.#once(() => this.#delivery.ack(), { kind: 'ack' })
  }

  nack(options?: NackOptions): Promise<void> {
    // Without requeue the transport drops the message for this group (a stream never dead-letters).
    const outcome: HandlerOutcome =
      options?.requeue === false && options.delayMs === undefined
        ? { kind: 'drop' }
        : { kind: 'retry', delayMs: options?.delayMs ?? 0 }
    return this.#once(() => this.#delivery.nack(options), outcome)
  }

  /** The first settle is recorded; later ones (no-ops on the delivery) pass straight through. */
  #once(settle: () => Promise<void>, outcome: HandlerOutcome): Promise<void> {
    if (this.#recorded || this.#delivery.settled) return settle()
    this.#recorded = true
    return this.#settle(settle, outcome)
  }
}
