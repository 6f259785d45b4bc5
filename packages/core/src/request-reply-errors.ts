/**
 * The typed errors of request–reply (`Bus.request`): no responder, and a responder whose handler
 * threw. A request that gets no reply in time rejects with the shared `TimeoutError`.
 */
import { isSwitchyardError, SwitchyardError, type SwitchyardErrorOptions } from './errors.js'

/**
 * The broker refused a request because nothing consumes its topic (RabbitMQ with `mandatory`
 * publishing: no queue is bound). Transports that cannot tell (Kafka, memory, …) let such a
 * request run into its timeout instead. Nothing was delivered; retryable once a responder runs.
 */
export class NoResponderError extends SwitchyardError {
  override readonly name = 'NoResponderError' as const
  override readonly retryable = true
  constructor(topic: string, options: SwitchyardErrorOptions = {}) {
    super(
      `No responder for requests on topic ${JSON.stringify(topic)}: the broker has nothing bound to it. ` +
        'Start a responder with bus.reply() (or provision its group) before sending requests, or check the topic name.',
      { ...options, context: { ...options.context, topic, operation: 'request' } },
    )
  }
}

/**
 * The responder's handler threw while answering a request; its error's `name` and `message`
 * travelled back in the reply (`remoteName`, `remoteMessage`). `retryable` is the remote error's
 * own flag (false for a plain `Error`).
 */
export class RemoteHandlerError extends SwitchyardError {
  override readonly name = 'RemoteHandlerError' as const
  override readonly retryable: boolean
  /** `name` of the error the responder's handler threw (`Error`, `TypeError`, `ConfigError`, …). */
  readonly remoteName: string
  /** `message` of that error (truncated to 1,000 characters). */
  readonly remoteMessage: string
  constructor(
    topic: string,
    remoteName: string,
    remoteMessage: string,
    options: SwitchyardErrorOptions & { retryable?: boolean } = {},
  ) {
    super(
      `The responder to topic ${JSON.stringify(topic)} failed with ${remoteName}: ${remoteMessage}. ` +
        'Fix the cause on the responder side, or handle this error as the answer to the request.',
      { ...options, context: { ...options.context, topic, operation: 'request' } },
    )
    this.remoteName = remoteName
    this.remoteMessage = remoteMessage
    this.retryable = options.retryable ?? false
  }
}

/**
 * True for the publish failure a transport reports when the broker has nowhere to route a message
 * (`PublishError` with `context.reason === 'unroutable'`, e.g. RabbitMQ's `mandatory` return).
 */
export function isUnroutable(error: unknown): boolean {
  return isSwitchyardError(error, 'PublishError') && error.context.reason === 'unroutable'
}
