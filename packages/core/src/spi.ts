/**
 * `@switchyard/core/spi`: what adapter authors need beyond the application API.
 * Applications should not import this entry point.
 */

export { checkPublishOptions } from './bus-checks.js'
export type { DeliverySettler } from './delivery.js'
export { createDelivery, normaliseNack } from './delivery.js'
export type {
  DerivedTransport,
  DeriveOptions,
  SubscribeDefaults,
} from './derive-transport.js'
export {
  connectionDefaults,
  DriverTransport,
  defaultConnectTimeoutMs,
  defaultDrainTimeoutMs,
  defaultInFlight,
  deriveTransport,
  maxInFlight,
} from './derive-transport.js'
export type {
  ConsumerHealth,
  ConsumeSpec,
  DeliverySink,
  DriverConsumer,
  DriverEvent,
  DriverFeatures,
  RawDelivery,
  Settled,
  TransportDriver,
} from './driver.js'
export type { BackoffOptions } from './driver-connection.js'
export { toError } from './errors.js'
export { InFlightTracker } from './in-flight-tracker.js'
export * from './index.js'
export { KeyedExecutor } from './keyed-executor.js'
export type { NormalisedRetry } from './retry.js'
export { backoffDelay, normaliseRetry, retryDefaults, shouldRetry } from './retry.js'
export { StatusSubject } from './status-subject.js'
export { tlsFailure } from './tls-errors.js'
export { speaksTls } from './tls-probe.js'
export { isPattern, isTopicName, topicMatches, validateGroup, validateTopic } from './topic.js'
export type { CheckedTransportOptions, OptionIssue } from './transport-factory.js'
export {
  checkTransportOptions,
  closestName,
  environmentReaders,
  isConfigSecret,
  optionPath,
  optionsError,
  plainTextSecretIssues,
  publishSection,
  publishSectionFromEnv,
  publishSectionIssues,
  redactSecrets,
  refuseUnknownOptions,
  revealSecrets,
  transportFactoryFor,
  unknownKindMessage,
  unknownOptionIssues,
  validateOptions,
} from './transport-factory.js'
