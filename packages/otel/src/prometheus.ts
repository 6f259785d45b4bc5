/**
 * `@switchyard/otel/prometheus`: the metrics of the OpenTelemetry SDK as a Prometheus text
 * exposition, for services without a collector. Built on the OpenTelemetry Prometheus exporter
 * (its reader and serializer), without its HTTP server: the text is served by whoever serves
 * `/metrics` (`serveHealth` of `@switchyard/di`, or your own server).
 */
import {
  type ExporterConfig,
  PrometheusExporter,
  PrometheusSerializer,
} from '@opentelemetry/exporter-prometheus'

/** The Prometheus text format's content type (version 0.0.4). */
export const prometheusContentType = 'text/plain; version=0.0.4; charset=utf-8'

/** Options of {@link PrometheusMetrics}: the exporter's, without its server. */
export type PrometheusMetricsOptions = Omit<
  ExporterConfig,
  'port' | 'host' | 'endpoint' | 'preventServerStart'
>

/**
 * A metric reader for the SDK's `MeterProvider` plus `collect()`, which renders everything the
 * provider holds as Prometheus text. Matches the `MetricsSource` shape `serveHealth` takes.
 *
 * **When to use:** to scrape a service with Prometheus directly. With an OTLP collector, export
 * OTLP instead (see the README).
 *
 * @example
 * const prometheus = new PrometheusMetrics()
 * metrics.setGlobalMeterProvider(new MeterProvider({ readers: [prometheus.reader] }))
 * await serveHealth(app, { port: 9464, metrics: prometheus })
 */
export class PrometheusMetrics {
  /** Register it in the SDK's `MeterProvider` (`readers: [prometheus.reader]`). */
  readonly reader: PrometheusExporter
  readonly contentType = prometheusContentType
  readonly #serializer: PrometheusSerializer

  constructor(options: PrometheusMetricsOptions = {}) {
    this.reader = new PrometheusExporter({ ...options, preventServerStart: true })
    this.#serializer = new PrometheusSerializer(
      options.prefix,
      options.appendTimestamp,
      options.withResourceConstantLabels,
      options.withoutTargetInfo,
      options.withoutScopeInfo,
    )
  }

  /** Collects from the provider and renders the text exposition. Rejects if collection fails. */
  async collect(): Promise<string> {
    const { resourceMetrics } = await this.reader.collect()
    return this.#serializer.serialize(resourceMetrics)
  }
}
