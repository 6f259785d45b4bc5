/**
 * Routes kafkajs logs: silent by default, else to the user's logger or one line each on stderr.
 * kafkajs logs a lot at `info` (every pause, join and retry), so nothing reaches the console
 * unless asked for through `logLevel`.
 */
import kafkajs, { type logLevel as LogLevel, type logCreator } from 'kafkajs'
import type { KafkaLogLevel, KafkaTransportOptions } from './options.js'

const { logLevel } = kafkajs

const toKafkaLevel: Record<KafkaLogLevel, LogLevel> = {
  nothing: logLevel.NOTHING,
  error: logLevel.ERROR,
  warn: logLevel.WARN,
  info: logLevel.INFO,
  debug: logLevel.DEBUG,
}

const fromKafkaLevel = (level: LogLevel): KafkaLogLevel =>
  level <= logLevel.ERROR
    ? 'error'
    : level === logLevel.WARN
      ? 'warn'
      : level === logLevel.INFO
        ? 'info'
        : 'debug'

/** The kafkajs `logLevel` for an option value. */
export function kafkaLogLevel(level: KafkaLogLevel): LogLevel {
  return toKafkaLevel[level]
}

/** A kafkajs `logCreator` that forwards to `sink` (or stderr). */
export function createLogCreator(sink: KafkaTransportOptions['logger']): logCreator {
  return () =>
    ({ namespace, level, log }) => {
      const reason = typeof log.error === 'string' ? `: ${log.error}` : ''
      const entry = { level: fromKafkaLevel(level), namespace, message: `${String(log.message)}${reason}` }
      if (sink) sink(entry)
      else process.stderr.write(`[kafkajs ${entry.level}] ${namespace}: ${entry.message}\n`)
    }
}
