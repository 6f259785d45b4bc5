/**
 * Traces for the marketplace: the OpenTelemetry SDK as a service would set it up, with
 * `@switchyard/otel`'s `BusTelemetry` on the Bus. Spans go to `SPANS_FILE` as JSON lines when it
 * is set (one file per process; the system test reads them), else to memory, from which the
 * one-process demo prints the tree of one registration. A real deployment swaps the exporter for
 * OTLP (see `@switchyard/otel`'s README).
 */
import { appendFileSync } from 'node:fs'
import { context, propagation, SpanKind } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { ExportResultCode, W3CTraceContextPropagator } from '@opentelemetry/core'
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base'
import type {
  BusOptions,
  ConsumeInterceptor,
  Middleware,
  PublishInterceptor,
  Transport,
} from '@switchyard/core'
import { BusTelemetry } from '@switchyard/otel'

/** One exported span, as written to `SPANS_FILE`. */
export interface SpanLine {
  readonly service: string
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId: string | undefined
  readonly name: string
  readonly kind: string
  readonly group: string | undefined
}

function lineOf(service: string, span: ReadableSpan): SpanLine {
  const group = span.attributes['messaging.consumer.group.name']
  return {
    service,
    traceId: span.spanContext().traceId,
    spanId: span.spanContext().spanId,
    parentSpanId: span.parentSpanContext?.spanId,
    name: span.name,
    kind: SpanKind[span.kind],
    group: typeof group === 'string' ? group : undefined,
  }
}

/** Appends every span to a file, synchronously (nothing is lost when the process exits). */
class FileSpanExporter implements SpanExporter {
  constructor(
    readonly file: string,
    readonly service: string,
  ) {}
  export(spans: ReadableSpan[], done: (result: { code: ExportResultCode }) => void): void {
    appendFileSync(this.file, spans.map((s) => `${JSON.stringify(lineOf(this.service, s))}\n`).join(''))
    done({ code: ExportResultCode.SUCCESS })
  }
  shutdown(): Promise<void> {
    return Promise.resolve()
  }
}

export interface Tracing {
  /** Spread into the Bus options; the telemetry behind them is bound by {@link bind}. */
  readonly busOptions: Pick<BusOptions, 'middleware' | 'publishInterceptors' | 'consumeInterceptors'>
  /** Creates the `BusTelemetry` for the transport `configure()` built (its kind names the system). */
  bind(transport: Transport): void
  /** Finished spans as lines (the in-memory exporter; empty with `SPANS_FILE`). */
  spans(): SpanLine[]
}

/** Registers the SDK (context manager, W3C propagator, tracer provider) for `service`. */
export function startTracing(service: string, env: Readonly<Record<string, string | undefined>>): Tracing {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
  propagation.setGlobalPropagator(new W3CTraceContextPropagator())
  const file = env.SPANS_FILE
  const memory = file ? undefined : new InMemorySpanExporter()
  const exporter = memory ?? new FileSpanExporter(file as string, service)
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
  let telemetry: BusTelemetry | undefined
  const bound = (): BusTelemetry => {
    if (telemetry === undefined) throw new Error('tracing.bind(transport) was not called before use')
    return telemetry
  }
  // The Bus is built inside configure(), before the transport is known here: delegate.
  const middleware: Middleware = (next) => (ctx) => bound().middleware(next)(ctx)
  const interceptor: PublishInterceptor = (next) => (messages) => bound().publishInterceptor(next)(messages)
  const streams: ConsumeInterceptor = (next, stream) => bound().consumeInterceptor(next, stream)
  return {
    busOptions: {
      middleware: [middleware],
      publishInterceptors: [interceptor],
      consumeInterceptors: [streams],
    },
    bind: (transport) => {
      telemetry = new BusTelemetry(transport, { tracerProvider })
    },
    spans: () => (memory?.getFinishedSpans() ?? []).map((s) => lineOf(service, s)),
  }
}

/** The tree of one trace, one line per span, children indented under their parent. */
export function traceTree(spans: readonly SpanLine[], traceId: string): string[] {
  const of = spans.filter((s) => s.traceId === traceId)
  const ids = new Set(of.map((s) => s.spanId))
  const lines: string[] = []
  const walk = (span: SpanLine, depth: number): void => {
    const group = span.group === undefined ? '' : `, group ${span.group}`
    lines.push(
      `${'   '.repeat(depth)}${depth === 0 ? '' : '└─ '}${span.name} (${span.kind}${group}, ${span.service})`,
    )
    const children = of.filter((s) => s.parentSpanId === span.spanId)
    // By name, then group: the same tree whatever order the spans ended in.
    children.sort((a, b) => `${a.name} ${a.group ?? ''}`.localeCompare(`${b.name} ${b.group ?? ''}`))
    for (const child of children) walk(child, depth + 1)
  }
  for (const root of of.filter((s) => s.parentSpanId === undefined || !ids.has(s.parentSpanId))) walk(root, 0)
  return lines
}
