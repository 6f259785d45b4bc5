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
   * `health`: the transport's `health()`, read at each collection for the consumer-lag gauge
   * (Kafka: partition lag; RabbitMQ and memory: messages waiting in the group's queue).
   */
  constructor(meter: Meter, system: string, health: (() => Promise<HealthReport>) | undefined) {
    if (health !== undefined) observeLag(meter, system, health)
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

/** `switchyard.consumer.lag`: an observable gauge per subscription that reports a lag in `health()`. */
function observeLag(meter: Meter, system: string, health: () => Promise<HealthReport>): void {
  const gauge = meter.createObservableGauge(SwitchyardTelemetry.lagMetric, {
    description: 'Messages waiting for a consumer group (Kafka: partition lag; RabbitMQ: queue depth).',
    unit: '{message}',
  })
  gauge.addCallback(async (result) => {
    let report: HealthReport
    try {
      report = await health()
    } catch {
      return // a closed or unreachable transport has no lag to report
    }
    for (const subscription of report.subscriptions) {
      if (subscription.lag === undefined) continue
      const attributes: Attributes = { [A.system]: system, [A.destinationName]: subscription.topic }
      if (subscription.group !== undefined) attributes[A.consumerGroupName] = subscription.group
      result.observe(subscription.lag, attributes)
    }
  })
}
