/**
 * The telemetry overhead pair on memory: the same `Bus` over `MemoryTransport`, consuming with
 * `Bus.handle` (where the middleware runs), with `@switchyard/otel` on (the "switchyard" side) and
 * off (the "raw" side). "On" is the OpenTelemetry SDK as an application would run it, exporting to
 * nowhere: every trace (or 1% of them) sampled, spans ended into a `BatchSpanProcessor` whose exporter drops the batch,
 * metrics aggregated by a `MeterProvider` whose periodic reader drops them, the AsyncLocalStorage
 * context manager and the W3C propagator (so `traceparent` is written and read on every message).
 */
import { context, propagation } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { ExportResultCode, W3CTraceContextPropagator } from '@opentelemetry/core'
import {
  MeterProvider,
  PeriodicExportingMetricReader,
  type PushMetricExporter,
} from '@opentelemetry/sdk-metrics'
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  type SpanExporter,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-base'
import { Bus, bytesCodec } from '@switchyard/core'
import { MemoryTransport } from '@switchyard/memory'
import { BusTelemetry } from '@switchyard/otel'
import type { BenchClient, ConsumerHandle, Side } from './client.js'

const done: Promise<void> = Promise.resolve()

const dropSpans: SpanExporter = {
  export: (_spans, callback) => callback({ code: ExportResultCode.SUCCESS }),
  shutdown: () => done,
}
const dropMetrics: PushMetricExporter = {
  export: (_metrics, callback) => callback({ code: ExportResultCode.SUCCESS }),
  forceFlush: () => done,
  shutdown: () => done,
}

function telemetryOn(transport: MemoryTransport, sampled: number): BusTelemetry {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
  propagation.setGlobalPropagator(new W3CTraceContextPropagator())
  const tracerProvider = new BasicTracerProvider({
    spanProcessors: [new BatchSpanProcessor(dropSpans)],
    // The SDK's default sampler with a ratio: a new trace is sampled with probability `sampled`.
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(sampled) }),
  })
  const meterProvider = new MeterProvider({
    readers: [new PeriodicExportingMetricReader({ exporter: dropMetrics, exportIntervalMillis: 1000 })],
  })
  return new BusTelemetry(transport, { tracerProvider, meterProvider })
}

class OtelMemoryClient implements BenchClient {
  readonly side: Side
  readonly #bus: Bus

  constructor(side: Side, sampled: number) {
    this.side = side
    const transport = new MemoryTransport()
    const telemetry = side === 'switchyard' ? telemetryOn(transport, sampled).busOptions : {}
    this.#bus = new Bus(transport, { codec: bytesCodec, closeTransport: true, ...telemetry })
  }

  prepare(topic: string, group: string): Promise<void> {
    return this.#bus.transport.provision(topic, { groups: [group] })
  }

  publishOne(topic: string, payload: Uint8Array): Promise<void> {
    return this.#bus.publish(topic, payload)
  }

  publishBatch(topic: string, payloads: readonly Uint8Array[]): Promise<void> {
    return this.#bus.publishBatch(payloads.map((payload) => ({ topic, payload })))
  }

  consume(
    topic: string,
    group: string,
    concurrency: number,
    onMessage: (payload: Uint8Array) => void,
  ): Promise<ConsumerHandle> {
    const sub = this.#bus.handle<Uint8Array>(
      topic,
      { group, concurrency, inFlight: Math.max(concurrency, 16) },
      (m) => {
        onMessage(m.payload)
      },
    )
    return sub.ready.then(() => ({ stop: () => sub.stop({ timeoutMs: 1000 }) }))
  }

  cleanup(): Promise<void> {
    return done
  }

  close(): Promise<void> {
    return this.#bus.close({ drain: false })
  }
}

/**
 * The overhead pair: `switchyard` is the Bus with telemetry on (a `sampled` fraction of traces,
 * 0 to 1), `raw` the same Bus without it.
 */
export function otelClient(side: Side, sampled: number): Promise<BenchClient> {
  return Promise.resolve(new OtelMemoryClient(side, sampled))
}
