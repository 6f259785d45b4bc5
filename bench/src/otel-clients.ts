/**
 * The telemetry overhead pair on memory, Kafka and RabbitMQ: the same `Bus` over one transport
 * (Kafka and RabbitMQ with their default options), consuming with
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
import { kafkaConnection, rabbitmqConnection } from '@switchyard/brokers'
import { Bus, bytesCodec, type Transport } from '@switchyard/core'
import { KafkaTransport } from '@switchyard/kafka'
import { MemoryTransport } from '@switchyard/memory'
import { BusTelemetry } from '@switchyard/otel'
import { RabbitMqTransport } from '@switchyard/rabbitmq'
import type { BenchClient, ConsumerHandle, Side } from './client.js'
import type { TransportName } from './plan.js'

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

function telemetryOn(transport: Transport, sampled: number): BusTelemetry {
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

function transportFor(kind: TransportName): Transport {
  switch (kind) {
    case 'kafka':
      return new KafkaTransport({ brokers: kafkaConnection.brokers, clientId: 'bench-otel' })
    case 'rabbitmq':
      return new RabbitMqTransport({ url: rabbitmqConnection.url, connectionName: 'bench-otel' })
    default:
      return new MemoryTransport()
  }
}

class OtelClient implements BenchClient {
  readonly side: Side
  readonly #bus: Bus
  /** Topics and groups this client provisioned, deleted on `close()`. */
  readonly #provisioned = new Map<string, string>()

  constructor(kind: TransportName, side: Side, sampled: number) {
    this.side = side
    const transport = transportFor(kind)
    const telemetry = side === 'switchyard' ? telemetryOn(transport, sampled).busOptions : {}
    this.#bus = new Bus(transport, { codec: bytesCodec, ...telemetry })
  }

  prepare(topic: string, group: string): Promise<void> {
    this.#provisioned.set(topic, group)
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

  async close(): Promise<void> {
    await this.#bus.close({ drain: false })
    for (const [topic, group] of this.#provisioned) {
      await this.#bus.transport.deprovision(topic, { groups: [group] }).catch(() => undefined)
      await this.#bus.transport.deprovision(`${topic}.dlq`).catch(() => undefined)
    }
    await this.#bus.transport.close({ drain: false })
  }
}

/**
 * The overhead pair: `switchyard` is the Bus with telemetry on (a `sampled` fraction of traces,
 * 0 to 1), `raw` the same Bus without it.
 */
export function otelClient(kind: TransportName, side: Side, sampled: number): Promise<BenchClient> {
  return Promise.resolve(new OtelClient(kind, side, sampled))
}
