/**
 * Every header Switchyard itself writes, in one place.
 *
 * Headers are strings on every transport. Names are lower case (RabbitMQ and Kafka keep case,
 * HTTP-minded tooling does not). User headers must not start with `x-switchyard-`; transports
 * carry these like any other header, so a message moved between brokers keeps them.
 */
export const SwitchyardHeaders = {
  /** Delivery attempt of a message republished by Switchyard (delay, retry topic), decimal, 1-based. */
  attempt: 'x-switchyard-attempt',
  /** Message id, for transports without a native id field (Kafka). */
  messageId: 'x-switchyard-id',
  /** Ordering key, for transports without a native key field (RabbitMQ). */
  key: 'x-switchyard-key',
  /** Topic of a copy republished by the transport through another exchange (RabbitMQ delay and requeue). */
  topic: 'x-switchyard-topic',
  /** Publish time, ms since the epoch, for transports without a native timestamp. */
  timestamp: 'x-switchyard-timestamp',
  /** Codec content type (`application/json`, `application/octet-stream`, `text/plain`). */
  contentType: 'content-type',
  /** Dead letters: the topic the message was first published to. */
  originalTopic: 'x-switchyard-original-topic',
  /** Dead letters: the group whose handler gave up on it (absent for ephemeral subscriptions). */
  originalGroup: 'x-switchyard-original-group',
  /** Dead letters: `name` of the last error (`DecodeError`, `TimeoutError`, `Error`, …). */
  errorName: 'x-switchyard-error-name',
  /** Dead letters: message of the last error, truncated to 1,000 characters. */
  errorMessage: 'x-switchyard-error-message',
  /** Dead letters: `true` when the last error was marked retryable, else `false`. */
  errorRetryable: 'x-switchyard-error-retryable',
  /** Dead letters: number of attempts made before giving up, decimal. */
  attempts: 'x-switchyard-attempts',
  /** Dead letters and retries: time of the first failure, ISO 8601. */
  firstFailureAt: 'x-switchyard-first-failure-at',
  /** Dead letters: time the message was dead-lettered, ISO 8601. */
  deadLetteredAt: 'x-switchyard-dead-lettered-at',
  /**
   * Replayed dead letters: the dead-letter topic a message was sent back from (written by
   * `switchyard dlq replay`, which strips the reason headers so a new failure dead-letters it again).
   */
  replayedFrom: 'x-switchyard-replayed-from',
  /** Delayed redelivery: earliest time of redelivery, ms since the epoch. */
  notBefore: 'x-switchyard-not-before',
  /** W3C trace context, carried untouched for tracing hooks. */
  traceparent: 'traceparent',
} as const

export type SwitchyardHeaderName = (typeof SwitchyardHeaders)[keyof typeof SwitchyardHeaders]

/** Prefix reserved for Switchyard's own headers. */
export const reservedHeaderPrefix = 'x-switchyard-'
