/**
 * Which dead letters a `dlq` command acts on: `--error <name>`, `--id <id>` (repeatable),
 * `--since` / `--until` on the time a message was dead-lettered. Pure functions.
 */
import type { DeadLetter } from '@switchyard/core'
import { CliError, ExitCode } from './exit-codes.js'

export interface DeadLetterFilter {
  readonly errorName?: string
  readonly ids?: readonly string[]
  /** Dead-lettered at or after (ms since the epoch). */
  readonly since?: number
  /** Dead-lettered at or before (ms since the epoch). */
  readonly until?: number
}

const units: Readonly<Record<string, number>> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/**
 * A time flag: an ISO 8601 date (`2026-12-03T17:00:00Z`) or a span ago (`90s`, `15m`, `2h`, `7d`).
 * Anything else is a `CliError` naming the flag.
 */
export function parseTime(flag: string, text: string, now = Date.now()): number {
  const span = /^(\d+)([smhd])$/.exec(text.trim())
  if (span) return now - Number(span[1]) * (units[span[2] as string] as number)
  const ms = Date.parse(text)
  if (Number.isNaN(ms)) {
    throw new CliError(
      `${flag} ${JSON.stringify(text)} is not a time: give an ISO 8601 date (2026-12-03T17:00:00Z) or a span ago (15m, 2h, 7d).`,
      ExitCode.badInput,
    )
  }
  return ms
}

/** True when `letter` passes every filter given. A letter without a dead-lettered time fails a time filter. */
export function matches(letter: DeadLetter, filter: DeadLetterFilter): boolean {
  if (filter.errorName !== undefined && letter.errorName !== filter.errorName) return false
  if (filter.ids !== undefined && filter.ids.length > 0 && !filter.ids.includes(letter.message.id))
    return false
  if (filter.since !== undefined || filter.until !== undefined) {
    const at = letter.deadLetteredAt
    if (at === undefined) return false
    if (filter.since !== undefined && at < filter.since) return false
    if (filter.until !== undefined && at > filter.until) return false
  }
  return true
}
