/**
 * The memory transport's kind and option errors, built in one place so their wording stays the same.
 *
 * There is no driver library to map: every failure here is caused by the caller. Validation of
 * names, messages and subscribe options is the derived transport's (core); only the constructor's
 * options are checked here.
 */
import { ConfigError } from '@switchyard/core/spi'

export const transportKind = 'memory'

/** An option of `what` (`memory transport options`, …) is invalid. */
export function optionError(what: string, field: string, issue: string): ConfigError {
  return new ConfigError(what, [`${field} ${issue}`], { context: { transport: transportKind, field } })
}
