/**
 * The logger interface through which the Bus reports what an operator must hear about: connection
 * loss and recovery, rebalances, stuck handlers, dead letters, restarts and slow drains. pino-style
 * (`logger.warn(fields, message)`), so a pino logger fits as it is; `@switchyard/otel` adapts the
 * OpenTelemetry logs API to it. The default writes JSON lines to stderr at `warn` in applications
 * and nothing under a test runner.
 */

/** Levels, lowest first; `silent` logs nothing. */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent'

/** Structured fields of one line. Never payloads, headers or credentials. */
export type LogFields = Readonly<Record<string, unknown>>

/**
 * A structured logger: one method per level, fields first, then the message (pino's signature,
 * so `pino()` can be passed as it is). Filtering by level is the logger's own business.
 */
export interface Logger {
  debug(fields: LogFields, message: string): void
  info(fields: LogFields, message: string): void
  warn(fields: LogFields, message: string): void
  error(fields: LogFields, message: string): void
}

const rank: Readonly<Record<LogLevel, number>> = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  fatal: 60,
  silent: Number.POSITIVE_INFINITY,
}

/** Options of {@link consoleLogger}. */
export interface ConsoleLoggerOptions {
  /** Lowest level written (default `warn`). */
  readonly level?: LogLevel
  /** Where lines go (default: `process.stderr`, else `console.error`). */
  readonly write?: (line: string) => void
}

/**
 * A logger that writes one JSON line per call (`{"level":"warn","time":…,"msg":…,…fields}`), the
 * shape pino writes, so the same log pipeline reads both.
 *
 * @example
 * const bus = new Bus(transport, { logger: consoleLogger({ level: 'info' }) })
 */
export function consoleLogger(options: ConsoleLoggerOptions = {}): Logger {
  const min = rank[options.level ?? 'warn']
  const write = options.write ?? defaultWrite
  const at =
    (level: Exclude<LogLevel, 'silent'>) =>
    (fields: LogFields, message: string): void => {
      if (rank[level] < min) return
      write(`${safeJson({ level, time: Date.now(), msg: message, ...fields })}\n`)
    }
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
}

/** A logger that drops everything. */
export const silentLogger: Logger = Object.freeze({
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
})

/**
 * The logger used when `BusOptions.logger` is not given: `SWITCHYARD_LOG_LEVEL` if set (`silent`
 * turns it off); otherwise silent under a test runner (`NODE_ENV=test`, `VITEST`, `JEST_WORKER_ID`)
 * and `warn` everywhere else.
 */
export function defaultLogger(env: Readonly<Record<string, string | undefined>> = processEnv()): Logger {
  const chosen = env.SWITCHYARD_LOG_LEVEL?.trim().toLowerCase()
  if (chosen !== undefined && chosen !== '' && chosen in rank) {
    return chosen === 'silent' ? silentLogger : consoleLogger({ level: chosen as LogLevel })
  }
  const testing = env.NODE_ENV === 'test' || env.VITEST !== undefined || env.JEST_WORKER_ID !== undefined
  return testing ? silentLogger : consoleLogger({ level: 'warn' })
}

/**
 * Removes what may be a credential from a text (an error message): the user-info of URLs
 * (`amqp://user:secret@host` → `amqp://***@host`) and `password=`/`token=`-style pairs.
 */
export function redact(text: string): string {
  return text
    .replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s]+@/gi, '$1***@')
    .replace(
      /\b(password|passwd|pwd|secret|token|api[_-]?key|authorization)(["']?\s*[:=]\s*["']?)[^\s"',;&]+/gi,
      '$1$2***',
    )
}

function processEnv(): Readonly<Record<string, string | undefined>> {
  return typeof process === 'undefined' ? {} : process.env
}

function defaultWrite(line: string): void {
  if (typeof process !== 'undefined' && process.stderr) process.stderr.write(line)
  else console.error(line.trimEnd())
}

function safeJson(value: Record<string, unknown>): string {
  try {
    return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))
  } catch {
    return JSON.stringify({ level: value.level, time: value.time, msg: value.msg })
  }
}
