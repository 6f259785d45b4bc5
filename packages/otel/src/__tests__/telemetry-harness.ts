/**
 * The OpenTelemetry SDK set up for tests: an in-memory span exporter, a metric reader collected on
 * demand, the AsyncLocalStorage context manager and the W3C propagator, plus small readers of
 * what they captured.
 */
import { type Attributes, context, propagation } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { W3CTraceContextPropagator } from '@opentelemetry/core'
import { type DataPoint, type Histogram, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics'
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base'
import { afterAll, beforeAll } from 'vitest'
import { BusTelemetry } from '../bus-telemetry.js'
import type { BusTelemetryOptions } from '../telemetry-options.js'

class CollectingReader extends MetricReader {
  protected onForceFlush(): Promise<void> {
    return Promise.resolve()
  }
  protected onShutdown(): Promise<void> {
    return Promise.resolve()
  }
}

export interface Sdk {
  readonly spans: InMemorySpanExporter
  readonly tracerProvider: BasicTracerProvider
  readonly meterProvider: MeterProvider
  readonly reader: MetricReader
  readonly propagator: W3CTraceContextPropagator
  /** A `BusTelemetry` on this SDK for `transport`. */
  telemetry(transport: { readonly kind: string }, options?: BusTelemetryOptions): BusTelemetry
}

/** Registers the context manager for the file and returns a fresh SDK per call. */
export function useContextManager(): void {
  const manager = new AsyncLocalStorageContextManager()
  beforeAll(() => {
    context.setGlobalContextManager(manager.enable())
  })
  afterAll(() => {
    manager.disable()
    context.disable()
    propagation.disable()
  })
}

export function createSdk(): Sdk {
  const spans = new InMemorySpanExporter()
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] })
  const reader = new CollectingReader()
  const meterProvider = new MeterProvider({ readers: [reader] })
  const propagator = new W3CTraceContextPropagator()
  return {
    spans,
    tracerProvider,
    meterProvider,
    reader,
    propagator,
    telemetry: (transport, options = {}) =>
      new BusTelemetry(transport, { tracerProvider, meterProvider, propagator, ...options }),
  }
}

/** Finished spans whose name ends with ` <topic>` (or is exactly `name`). */
export function spansOf(sdk: Sdk, topic: string): ReadableSpan[] {
  return sdk.spans.getFinishedSpans().filter((s) => s.name.endsWith(` ${topic}`))
}

export function spanNamed(sdk: Sdk, name: string): ReadableSpan[] {
  return sdk.spans.getFinishedSpans().filter((s) => s.name === name)
}

export interface Point {
  readonly attributes: Attributes
  readonly value: number | Histogram
}

/** Data points of metric `name` whose `messaging.destination.name` is `topic` (all when `topic` is undefined). */
export async function pointsOf(sdk: Sdk, name: string, topic?: string): Promise<Point[]> {
  const { resourceMetrics } = await sdk.reader.collect()
  const points: Point[] = []
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      if (metric.descriptor.name !== name) continue
      for (const point of metric.dataPoints as DataPoint<number | Histogram>[]) {
        if (topic === undefined || point.attributes['messaging.destination.name'] === topic) {
          points.push({ attributes: point.attributes, value: point.value })
        }
      }
    }
  }
  return points
}

/** Sum of a counter's points, or of a histogram's counts. */
export function total(points: readonly Point[]): number {
  return points.reduce((sum, p) => sum + (typeof p.value === 'number' ? p.value : p.value.count), 0)
}

export async function waitFor(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}
