/**
 * `@switchyard/core`: the application API. Adapter authors also import `@switchyard/core/spi`.
 */

export type { BatchContext, BatchHandleOptions, BatchHandler, BatchOutcome } from './batch-handler.js'
export { Bus } from './bus.js'
export type {
  BatchEntry,
  BusEvent,
  BusHooks,
  BusOptions,
  Codec,
  ConsumeInterceptor,
  ConsumeNext,
  ConsumeOptions,
  ConsumeStream,
  HandleOptions,
  Handler,
  HandlerContext,
  HandlerSubscription,
  PublishInterceptor,
  PublishNext,
  PublishOptions,
  Register,
  RegisteredTopic,
  RegisteredTopics,
  RetryPolicy,
  StopOptions,
  SupervisionEscalation,
  SupervisionOptions,
  SupervisionReport,
  TopicPayload,
  UnregisteredTopic,
} from './bus-options.js'
export type { CloudEvent, CloudEventsOptions } from './cloud-events.js'
export { cloudEvents, cloudEventsCodec, cloudEventsContentType, readCloudEvent } from './cloud-events.js'
export { bytesCodec, formatIssues, jsonCodec, schemaCodec, stringCodec } from './codecs.js'
export type { ConfigSecret } from './config-secret.js'
export type { DeadLetter, DeadLetterDelivery } from './dead-letter.js'
export { isDeadLetter, readDeadLetter } from './dead-letter.js'
export type { ClaimResult, DedupOptions, DedupStore } from './dedup.js'
export { dedupe, MemoryDedupStore } from './dedup.js'
export type { ErrorContext, SwitchyardErrorName, SwitchyardErrorOptions, TlsProblem } from './errors.js'
export {
  AuthenticationError,
  BackpressureError,
  BrokerUnavailableError,
  CancelledError,
  CapabilityError,
  ConfigError,
  DecodeError,
  EncodeError,
  InvalidTopicError,
  isSwitchyardError,
  LeaseLostError,
  MessageTooLargeError,
  PublishError,
  RevisionConflictError,
  SecretKeyError,
  SwitchyardError,
  TimeoutError,
  TlsError,
  TransportClosedError,
  UnknownTopicError,
} from './errors.js'
export type { SwitchyardHeaderName } from './headers.js'
export { reservedHeaderPrefix, SwitchyardHeaders } from './headers.js'
export type { ConsoleLoggerOptions, LogFields, Logger, LogLevel } from './logger.js'
export { consoleLogger, defaultLogger, redact, silentLogger } from './logger.js'
export type { Delivery, Message, NackOptions, OutgoingMessage, Settlement } from './message.js'
export type { HandleContext, HandlerOutcome, Middleware, NextHandler } from './middleware.js'
export { Outcome } from './middleware.js'
export type { PublishBatchOptions } from './publish-batcher.js'
export type { ReplyHandler, ReplyOptions, RequestOptions } from './request-reply.js'
export { defaultRequestTimeoutMs, RequestHeaders } from './request-reply.js'
export { NoResponderError, RemoteHandlerError } from './request-reply-errors.js'
export type {
  Capabilities,
  CloseOptions,
  GroupInfo,
  HealthReport,
  Inspection,
  InspectOptions,
  ProvisionOptions,
  SubscribeOptions,
  SubscriptionHealth,
  TopicInfo,
  Transport,
  TransportState,
  TransportStatus,
} from './transport.js'
export type { Environment, TransportFactory } from './transport-factory.js'
