/**
 * The errors the in-memory transport raises, built in one place so their wording stays the same.
 *
 * There is no driver to map: every failure here is caused by the caller (a closed transport, an
 * invalid option or message, an oversized message). Only core's typed errors are used.
 */
import {
  CapabilityError,
  ConfigError,
  MessageTooLargeError,
  TransportClosedError,
} from '@switchyard/core/spi'

export const transportKind = 'memory'

/** `operation` was attempted after `close()`. */
export function closedError(operation: string, topic?: string): TransportClosedError {
  return new TransportClosedError(operation, {
    context: topic === undefined ? { transport: transportKind } : { transport: transportKind, topic },
  })
}

/** An option of `what` (`memory transport options`, `subscribe options`, …) is invalid. */
export function optionError(what: string, field: string, issue: string): ConfigError {
  return new ConfigError(what, [`${field} ${issue}`], { context: { transport: transportKind, field } })
}

/** An argument of `operation` is not what the SPI declares (a JavaScript caller passed the wrong type). */
export function invalidArgumentError(operation: string, field: string, issue: string): ConfigError {
  return new ConfigError(`${operation} arguments`, [`${field} ${issue}`], {
    context: { transport: transportKind, operation, field },
  })
}

/** A message handed to `publish` is malformed (e.g. its payload is not bytes). */
export function invalidMessageError(topic: string, issue: string): ConfigError {
  return new ConfigError('message', [issue], {
    context: { transport: transportKind, topic, field: 'payload' },
  })
}

/** A message is over `maxMessageBytes`. */
export function tooLargeError(topic: string, size: number, limit: number): MessageTooLargeError {
  return new MessageTooLargeError(topic, size, limit, { context: { transport: transportKind } })
}

/** `fromBeginning` on a transport created with `retention: 0`. */
export function noReplayError(): CapabilityError {
  return new CapabilityError(
    transportKind,
    'replay (`fromBeginning`) when created with `retention: 0`; set `retention` above 0',
    {
      context: { field: 'fromBeginning' },
    },
  )
}
