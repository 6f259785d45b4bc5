/**
 * The instruments `BusTelemetry` records into: the messaging conventions' client metrics plus
 * Switchyard's own, created once per `BusTelemetry` from one meter. Same names, units and
 * attributes on every transport.
 *
 * Counts are kept as plain numbers per attribute set and reported by asynchronous (observable)
 * counters when the SDK collects: the exported data (a monotonic cumulative sum, or a non-monotonic
 * one for in-flight) is what a synchronous counter gives, but a message costs an increment instead
 * of the SDK hashing its attribute set on every `add` (measured: that hashing was a quarter of the
 * CPU of a handler loop). Durations stay synchronous histograms: they need every value.
 */
import type { Attributes, Histogram, Meter, MetricOptions } from '@opentelemetry/api'
import type { HealthReport } from '@switchyard/core'
import {
  MessagingAttributes as A,
  durationBuckets,
  MessagingMetrics,
  SwitchyardTelemetry,
} from './semconv.js'

/** One attribute set of a sum and its current value. */
export class Series {
  value = 0
  constructor(readonly attributes: Attributes) {}
}

/** A sum reported by an observable instrument from its series. Series are never dropped. */
export class ObservedSum {
  readonly #series = new Map<string, Series>()

  constructor(meter: Meter, name: string, options: MetricOptions, monotonic: boolean) {
    const instrument = monotonic
      ? meter.createObservableCounter(name, options)
      : meter.createObservableUpDownCounter(name, options)
    instrument.addCallback((result) => {
      for (const series of this.#series.values()) result.observe(series.value, series.attributes)
    })
  }

  /** The series named `key` (a string that identifies `attributes`), created on first use. */
  series(key: string, attributes: Attributes): Series {
    let series = this.#series.get(key)
    if (series === undefined) {
      series = new Series(attributes)
      this.#series.set(key, series)
    }
    return series
  }
}

export class TelemetryMetrics {
  /** `messaging.client.sent.messages`: messages handed to the broker (with `error.type` when refused). */
  readonly sent: ObservedSum
  /** `messaging.client.consumed.messages`: deliveries that reached a handler chain. */
  readonly consumed: ObservedSum
  /** `messaging.client.operation.duration`: seconds from a publish call to the broker's answer. */
  readonly operationDuration: Histogram<Attributes>
  /** `messaging.process.duration`: seconds a handler chain took for one delivery. */
  readonly processDuration: Histogram<Attributes>
  readonly inFlight: ObservedSum
  readonly retries: ObservedSum
  readonly deadLetters: ObservedSum
  readonly decodeFailures: ObservedSum

  /**
   * `health`: the transport's `health()`, read once per collection for the gauges of
   * `observeHealth` (lag, in-flight, publish buffer, connected).
   */
  constructor(meter: Meter, system: string, health: (() => Promise<HealthReport>) | undefined) {
    if (health !== undefined) observeHealth(meter, system, health)
    const advice = { explicitBucketBoundaries: [...durationBuckets] }
    this.sent = new ObservedSum(
      meter,
      MessagingMetrics.sentMessages,
      {
        description: 'Number of messages producers attempted to send to the broker.',
        unit: '{message}',
      },
      true,
    )
    this.consumed = new ObservedSum(
      meter,
      MessagingMetrics.consumedMessages,
      {
        description: 'Number of messages that were delivered to the application.',
        unit: '{message}',
      },
      true,
    )
    this.operationDuration = meter.createHistogram(MessagingMetrics.operationDuration, {
      description: 'Duration of messaging operation initiated by a producer or consumer client.',
      unit: 's',
      advice,
    })
    this.processDuration = meter.createHistogram(MessagingMetrics.processDuration, {
      description: 'Duration of processing operation.',
      unit: 's',
      advice,
    })
    this.inFlight = new ObservedSum(
      meter,
      SwitchyardTelemetry.inFlightMetric,
      {
        description: 'Handler runs in progress.',
        unit: '{message}',
      },
      false,
    )
    this.retries = new ObservedSum(
      meter,
      SwitchyardTelemetry.retriesMetric,
      {
        description: 'Handler runs that ended with the delivery given back for another attempt.',
        unit: '{message}',
      },
      true,
    )
    this.deadLetters = new ObservedSum(
      meter,
      SwitchyardTelemetry.deadLettersMetric,
      {
        description: 'Messages a handler gave up on, sent to the dead-letter topic.',
        unit: '{message}',
      },
      true,
    )
    this.decodeFailures = new ObservedSum(
      meter,
      SwitchyardTelemetry.decodeFailuresMetric,
      {
        description: 'Payloads that failed to decode or validate (dead-lettered at once).',
        unit: '{message}',
      },
      true,
    )
  }
}

/**
 * Gauges read from the transport's `health()`, one call per collection for all of them, with the
 * same names and attributes on every transport:
 * - `switchyard.consumer.lag` per subscription that reports one (Kafka: partition lag; RabbitMQ:
 *   queue depth; memory: the group's queue),
 * - `switchyard.consumer.in_flight`: unsettled deliveries each subscription holds,
 * - `switchyard.publish.buffered`: messages in the publish queue, not yet handed to the broker,
 * - `switchyard.transport.up`: 1 while the transport is connected, else 0.
 */
function observeHealth(meter: Meter, system: string, health: () => Promise<HealthReport>): void {
  const gauge = (name: string, description: string, unit = '{message}') =>
    meter.createObservableGauge(name, { description, unit })
  const lag = gauge(
    SwitchyardTelemetry.lagMetric,
    'Messages waiting for a consumer group (Kafka: partition lag; RabbitMQ: queue depth).',
  )
  const inFlight = gauge(
    SwitchyardTelemetry.subscriptionInFlightMetric,
    'Unsettled deliveries a subscription holds (from the transport).',
  )
  const buffered = gauge(
    SwitchyardTelemetry.publishBufferedMetric,
    'Messages accepted by publish and not yet handed to the broker.',
  )
  const up = gauge(SwitchyardTelemetry.transportUpMetric, '1 while the transport is connected, else 0.', '1')
  const transport: Attributes = { [A.system]: system }
  meter.addBatchObservableCallback(
    async (result) => {
      let report: HealthReport
      try {
        report = await health()
      } catch {
        result.observe(up, 0, transport)
        return // a closed or unreachable transport has no lag to report
      }
      result.observe(up, report.status === 'up' ? 1 : 0, transport)
      result.observe(buffered, report.publishBuffered ?? 0, transport)
      for (const subscription of report.subscriptions) {
        const attributes: Attributes = { [A.system]: system, [A.destinationName]: subscription.topic }
        if (subscription.group !== undefined) attributes[A.consumerGroupName] = subscription.group
        result.observe(inFlight, subscription.inFlight, attributes)
        if (subscription.lag !== undefined) result.observe(lag, subscription.lag, attributes)
      }
    },
    [lag, inFlight, buffered, up],
  )
}
