/**
 * Options of `BusTelemetry`. Everything has a default; `new BusTelemetry(transport)` uses the
 * global tracer and meter providers and the global propagator, as registered by the SDK.
 */
import type { MeterProvider, TextMapPropagator, TracerProvider } from '@opentelemetry/api'
import type { SemconvMode } from './semconv.js'

export interface BusTelemetryOptions {
  /** Where spans go (default: the global provider, `trace.getTracerProvider()`). */
  readonly tracerProvider?: TracerProvider
  /** Where metrics go (default: the global provider, `metrics.getMeterProvider()`). */
  readonly meterProvider?: MeterProvider
  /**
   * Writes and reads the trace context in message headers (default: the global propagator,
   * `propagation`, which the SDK sets to W3C `traceparent`/`tracestate` + baggage).
   */
  readonly propagator?: TextMapPropagator
  /**
   * How a process span relates to the producer's context found in the message headers (both link
   * to it, as the conventions ask):
   * - `child` (default): the process span is a child of the producer span: one trace from the
   *   publishing service through every consumer.
   * - `link`: the process span continues the context active around the handler (usually none:
   *   a new trace per message) and only links to the producer. For long-lived or fan-in flows
   *   where one huge trace is unwanted.
   */
  readonly processParent?: 'child' | 'link'
  /**
   * `messaging.system` (default: from `transport.kind`: `kafka`, `rabbitmq`,
   * `switchyard_memory` for memory, else the kind).
   */
  readonly system?: string
  /**
   * `current` or `dup` (current plus v1.24 attribute names). Default: from
   * `OTEL_SEMCONV_STABILITY_OPT_IN` (`messaging/dup` → `dup`; otherwise `current`).
   */
  readonly semconv?: SemconvMode
  /**
   * A publish call with several messages (`publishBatch`): `true` (default) makes a `create` span
   * per message (each its own creation context) and one `send` span (CLIENT) linking them, as the
   * conventions describe; `false` makes only the `send` span (PRODUCER), whose context every message
   * of the call carries: one span per call instead of one per message, for high-volume batches.
   */
  readonly batchCreateSpans?: boolean
  /** `false`: no spans and no header injection (metrics only). Default `true`. */
  readonly traces?: boolean
  /** `false`: no metrics (spans only). Default `true`. */
  readonly metrics?: boolean
}
