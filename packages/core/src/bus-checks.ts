/**
 * Option checks of the `Bus`: every user-supplied option is validated once, up front, and a bad
 * one becomes a `ConfigError` whose `context.field` names it (`concurrency`, `retry.attempts`, …).
 *
 * Internal to core. It normalises options into plain values; it runs nothing.
 */
import type { Codec, ConsumeOptions, HandleOptions, PublishOptions } from './bus-options.js'
import { ConfigError, DecodeError, EncodeError } from './errors.js'
import type { Logger } from './logger.js'
import type { Message } from './message.js'
import type { Middleware } from './middleware.js'
import { type NormalisedRetry, normaliseRetry } from './retry.js'
import { validateGroup, validateTopic } from './topic.js'
import type { SubscribeOptions } from './transport.js'

function fail(what: string, field: string, issue: string): never {
  throw new ConfigError(what, [`${field} ${issue}`], { context: { field } })
}

function positiveInteger(what: string, field: string, value: unknown): number | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    fail(what, field, `must be an integer >= 1, got ${String(value)}`)
  }
  return value
}

function checkCodec(what: string, codec: unknown): void {
  if (codec === undefined) return
  const c = codec as Partial<Codec<unknown>> | null
  if (
    typeof c !== 'object' ||
    c === null ||
    typeof c.encode !== 'function' ||
    typeof c.decode !== 'function' ||
    typeof c.contentType !== 'string'
  ) {
    fail(what, 'codec', 'must be a codec ({ contentType, encode, decode })')
  }
}

/** The subscribe part of consume/handle options, validated and without Bus-only fields. */
export function subscribeOptionsOf(
  what: string,
  options: ConsumeOptions<unknown>,
  minInFlight = 1,
): SubscribeOptions {
  const picked: { -readonly [K in keyof SubscribeOptions]: SubscribeOptions[K] } = {}
  if (options.group !== undefined) picked.group = validateGroup(options.group)
  const inFlight = positiveInteger(what, 'inFlight', options.inFlight)
  if (inFlight !== undefined) picked.inFlight = inFlight
  else if (minInFlight > 64) picked.inFlight = minInFlight
  if (options.fromBeginning !== undefined) picked.fromBeginning = options.fromBeginning
  if (options.ordered !== undefined) picked.ordered = options.ordered
  if (options.onReady !== undefined) picked.onReady = options.onReady
  checkCodec(what, options.codec)
  if (options.deadLetterTopic !== undefined) validateTopic(options.deadLetterTopic)
  return picked
}

/** `handle` options with every default applied. */
export interface CheckedHandleOptions {
  readonly subscribe: SubscribeOptions
  readonly concurrency: number
  readonly retry: NormalisedRetry
  readonly timeoutMs: number | undefined
  readonly deadLetter: boolean
}

/** Validates `handle` options; throws `ConfigError` naming the field. */
export function checkHandleOptions(options: HandleOptions<unknown>): CheckedHandleOptions {
  const what = 'handle options'
  if (typeof options !== 'object' || options === null) fail(what, 'options', 'must be an object')
  const concurrency = positiveInteger(what, 'concurrency', options.concurrency) ?? 1
  let timeoutMs: number | undefined
  if (options.timeoutMs !== undefined) {
    const t = options.timeoutMs
    if (typeof t !== 'number' || !Number.isFinite(t) || t <= 0) {
      fail(what, 'timeoutMs', `must be a finite number > 0, got ${String(t)}`)
    }
    timeoutMs = t
  }
  if (options.deadLetter !== undefined && typeof options.deadLetter !== 'boolean') {
    fail(what, 'deadLetter', `must be a boolean, got ${String(options.deadLetter)}`)
  }
  return {
    subscribe: subscribeOptionsOf(what, options, concurrency),
    concurrency,
    retry: normaliseRetry(options.retry),
    timeoutMs,
    deadLetter: options.deadLetter !== false,
  }
}

/** Codecs should throw `DecodeError`; anything else they throw is wrapped in one. */
export function asDecodeError(thrown: unknown, message: Message): DecodeError {
  if (thrown instanceof DecodeError) return thrown
  const reason = thrown instanceof Error ? thrown.message : String(thrown)
  return new DecodeError(message.topic, `the codec failed: ${reason}`, { cause: thrown })
}

/** Codecs should throw `EncodeError`; anything else they throw is wrapped in one. */
export function asEncodeError(thrown: unknown, topic: string): EncodeError {
  if (thrown instanceof EncodeError) return thrown
  const reason = thrown instanceof Error ? thrown.message : String(thrown)
  return new EncodeError(topic, `the codec failed: ${reason}`, { cause: thrown })
}

/** True for a promise or any thenable. */
export function isPromiseLike<T = unknown>(value: unknown): value is PromiseLike<T> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  )
}

/** Checks a `middleware` option: an array of functions `(next) => handler`. Returns it. */
export function checkMiddleware(what: string, middleware: unknown): readonly Middleware[] {
  if (!Array.isArray(middleware)) fail(what, 'middleware', 'must be an array of (next) => handler functions')
  middleware.forEach((m, i) => {
    if (typeof m !== 'function')
      fail(what, `middleware[${i}]`, `must be a function (next) => handler, got ${typeof m}`)
  })
  return middleware as readonly Middleware[]
}

/** Checks `BusOptions.publishInterceptors` or `consumeInterceptors`: an array of `(next) => …` functions. */
export function checkInterceptors(
  field: 'publishInterceptors' | 'consumeInterceptors',
  interceptors: unknown,
): void {
  const shape = field === 'publishInterceptors' ? '(next) => publish' : '(next, stream) => hand-out'
  if (!Array.isArray(interceptors)) fail('Bus options', field, `must be an array of ${shape} functions`)
  interceptors.forEach((p, i) => {
    if (typeof p !== 'function')
      fail('Bus options', `${field}[${i}]`, `must be a function ${shape}, got ${typeof p}`)
  })
}

/** `BusOptions.logger`: an object with `debug`, `info`, `warn` and `error` methods (pino's shape). */
export function checkLogger(logger: unknown): void {
  const l = logger as Partial<Logger> | null
  if (
    typeof l !== 'object' ||
    l === null ||
    typeof l.debug !== 'function' ||
    typeof l.info !== 'function' ||
    typeof l.warn !== 'function' ||
    typeof l.error !== 'function'
  ) {
    fail(
      'Bus options',
      'logger',
      'must have debug, info, warn and error methods (a pino logger, consoleLogger(), or false)',
    )
  }
}

/**
 * Checks the per-message options of a publish — `id`, `key`, `priority`, `headers` — for the Bus
 * and for anything that keeps a publish to send later (an outbox), so both refuse the same input
 * with the same words: `ConfigError` of `what` naming the field. Returns a copy of the user's
 * headers (`undefined` when none were given).
 */
export function checkPublishOptions(
  options: Pick<PublishOptions, 'id' | 'key' | 'priority' | 'headers'>,
  what = 'publish options',
): Record<string, string> | undefined {
  const bad = (field: string, issue: string): never => {
    throw new ConfigError(what, [`${field} ${issue}`], { context: { field } })
  }
  const { id, key, priority, headers } = options
  if (id !== undefined && (typeof id !== 'string' || id.length === 0)) bad('id', 'must be a non-empty string')
  if (key !== undefined && typeof key !== 'string') bad('key', 'must be a string')
  if (priority !== undefined && !(Number.isInteger(priority) && priority >= 0 && priority <= 9)) {
    bad('priority', `must be an integer from 0 to 9, got ${String(priority)}`)
  }
  if (headers === undefined) return undefined
  const own: Record<string, string> = {}
  for (const name in headers) {
    const value = headers[name]
    if (typeof value !== 'string') bad(`headers.${name}`, `must be a string, got ${typeof value}`)
    own[name] = value as string
  }
  return own
}
