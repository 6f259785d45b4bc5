/**
 * `@switchyard/otel`: OpenTelemetry traces and metrics for a Switchyard `Bus`, following the
 * messaging semantic conventions, the same on every transport.
 */
export { BusTelemetry } from './bus-telemetry.js'
export { headersGetter, headersSetter } from './headers-carrier.js'
export type { SemconvMode } from './semconv.js'
export {
  durationBuckets,
  LegacyMessagingAttributes,
  MessagingAttributes,
  MessagingMetrics,
  messagingSystemOf,
  SwitchyardTelemetry,
  semconvModeFrom,
} from './semconv.js'
export type { BusTelemetryOptions } from './telemetry-options.js'
