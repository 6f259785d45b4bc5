/**
 * The OpenTelemetry messaging semantic-convention names this package writes, in one place, and
 * the `OTEL_SEMCONV_STABILITY_OPT_IN` switch that decides whether the older (v1.24) names are
 * written as well.
 *
 * Not a copy of `@opentelemetry/semantic-conventions` (a dependency this package does without):
 * only the names used here, as plain strings, so the set written is visible at a glance.
 */

/** Attribute names of the current messaging conventions (what `@switchyard/otel` always writes). */
export const MessagingAttributes = {
  system: 'messaging.system',
  destinationName: 'messaging.destination.name',
  destinationTemplate: 'messaging.destination.template',
  operationType: 'messaging.operation.type',
  operationName: 'messaging.operation.name',
  consumerGroupName: 'messaging.consumer.group.name',
  messageId: 'messaging.message.id',
  bodySize: 'messaging.message.body.size',
  batchMessageCount: 'messaging.batch.message_count',
  kafkaMessageKey: 'messaging.kafka.message.key',
  rabbitmqRoutingKey: 'messaging.rabbitmq.destination.routing_key',
  errorType: 'error.type',
} as const

/** Attribute names of the v1.24 conventions, written beside the current ones with `messaging/dup`. */
export const LegacyMessagingAttributes = {
  /** v1.24's `publish` / `process`, replaced by `messaging.operation.type` + `.name`. */
  operation: 'messaging.operation',
  /** v1.24's Kafka group, replaced by `messaging.consumer.group.name`. */
  kafkaConsumerGroup: 'messaging.kafka.consumer.group',
} as const

/** Switchyard's own attributes, events and metric names (not part of the conventions). */
export const SwitchyardTelemetry = {
  /** Span attribute: 1-based delivery attempt. */
  attempt: 'switchyard.delivery.attempt',
  /** Span attribute: the handler chain's outcome (`ack`, `retry`, `dead-letter`, `drop`). */
  outcome: 'switchyard.outcome',
  /** Span event: the delivery goes back to the broker for another attempt. */
  retryEvent: 'switchyard.retry',
  /** Attribute of `switchyard.retry`: the redelivery delay in ms. */
  retryDelay: 'switchyard.retry.delay_ms',
  /** Span event: the message is dead-lettered. */
  deadLetterEvent: 'switchyard.dead_letter',
  /** Attribute of `switchyard.dead_letter`: the dead-letter topic. */
  deadLetterTopic: 'switchyard.dead_letter.topic',
  /** Span event: acknowledged without being handled. */
  dropEvent: 'switchyard.drop',
  /** Metric: handler runs in progress. */
  inFlightMetric: 'switchyard.handler.in_flight',
  /** Metric: handler runs that ended in a retry. */
  retriesMetric: 'switchyard.handler.retries',
  /** Metric: messages dead-lettered by a handler. */
  deadLettersMetric: 'switchyard.dead_letters',
  /** Metric: payloads that failed to decode (dead-lettered at once). */
  decodeFailuresMetric: 'switchyard.decode.failures',
  /** Metric: messages waiting for a group, from the transport's `health()`. */
  lagMetric: 'switchyard.consumer.lag',
  /** Metric: unsettled deliveries a subscription holds, from the transport's `health()`. */
  subscriptionInFlightMetric: 'switchyard.consumer.in_flight',
  /** Metric: messages in the transport's publish queue, from `health()`. */
  publishBufferedMetric: 'switchyard.publish.buffered',
  /** Metric: 1 while the transport is connected (`health().status` is `up`), else 0. */
  transportUpMetric: 'switchyard.transport.up',
} as const

/** Metric names of the current messaging conventions. */
export const MessagingMetrics = {
  sentMessages: 'messaging.client.sent.messages',
  consumedMessages: 'messaging.client.consumed.messages',
  operationDuration: 'messaging.client.operation.duration',
  processDuration: 'messaging.process.duration',
} as const

/**
 * Which attribute names to write: `current` only, or `dup` (current plus the v1.24 names, for
 * dashboards built on the older conventions). Span names and kinds are always current.
 */
export type SemconvMode = 'current' | 'dup'

/**
 * Reads `OTEL_SEMCONV_STABILITY_OPT_IN` (comma-separated): `messaging/dup` gives `dup` (it wins
 * over `messaging`, as the conventions say); anything else, or nothing, gives `current`.
 */
export function semconvModeFrom(optIn: string | undefined): SemconvMode {
  if (optIn === undefined) return 'current'
  return optIn.split(',').some((entry) => entry.trim() === 'messaging/dup') ? 'dup' : 'current'
}

/**
 * `messaging.system` for a transport kind: the conventions' well-known values where the broker
 * has one (`kafka`, `rabbitmq`), `switchyard_memory` for the in-process transport (no broker the
 * conventions could name), and the kind itself for anything else.
 */
export function messagingSystemOf(kind: string): string {
  return kind === 'memory' ? 'switchyard_memory' : kind
}

/**
 * Bucket boundaries (seconds) the conventions advise for `messaging.client.operation.duration`
 * and `messaging.process.duration`.
 */
export const durationBuckets: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
]
