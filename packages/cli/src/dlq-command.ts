/**
 * `switchyard dlq list|show|replay|purge <topic>`: the dead letters of `topic`, read through the
 * Bus's dead-letter view (`bus.deadLetters`), so the reason headers are decoded exactly as an app
 * sees them.
 *
 * Every subcommand reads the dead-letter topic as one consumer group (`--group`, default `dlq`:
 * the group RabbitMQ provisions on every `<topic>.dlq`; on Kafka and memory a group that starts
 * from the oldest retained dead letter). What that group has not settled is "the DLQ":
 * - `list` / `show` settle nothing: every delivery goes back to the broker when the command ends.
 * - `replay` publishes a copy to the original topic (reason headers removed, so the attempt count
 *   starts again; `x-switchyard-replayed-from` set; id, key, payload and user headers kept), awaits
 *   the broker's confirmation, and only then acks the dead letter. A failed publish leaves it.
 * - `purge` acks (removes) the chosen dead letters.
 * Letters that do not match the filters are never settled, and one run replays or purges each id
 * at most once (a replayed copy that fails again comes back to the DLQ with the same id and stays
 * there). Reading stops when no new dead letter
 * arrived for `--wait` ms, or at `--limit` matches.
 */
import {
  Bus,
  bytesCodec,
  type DeadLetter,
  type OutgoingMessage,
  reservedHeaderPrefix,
  SwitchyardHeaders,
} from '@switchyard/core'
import type { Subscription } from 'rxjs'
import { openTransport } from './connection.js'
import { aborted, type CommandContext } from './context.js'
import { type DeadLetterFilter, matches } from './dead-letter-filter.js'
import { CliError, ExitCode } from './exit-codes.js'
import { isoTime, truncate } from './output.js'
import { payloadText, showPayload } from './payload.js'

export type DlqAction = 'list' | 'show' | 'replay' | 'purge'

export interface DlqFlags {
  readonly group: string
  readonly dlqTopic?: string
  readonly filter: DeadLetterFilter
  readonly limit: number
  readonly waitMs: number
  readonly dryRun: boolean
}

/** Most dead letters one run reads (they stay unsettled until it ends, unless settled). */
export const scanWindow = 10_000

/** What one run did. */
export interface DlqResult {
  /** Dead letters read from the group. */
  readonly scanned: number
  /** Those that matched the filters (at most `limit`), in the order read. */
  readonly matched: readonly DeadLetter[]
  /** Replayed (confirmed copy, then acked) or purged. */
  readonly settled: number
}

/** The copy `replay` publishes: back to the original topic, reason and delivery headers removed. */
export function replayCopy(letter: DeadLetter, fallbackTopic: string): OutgoingMessage {
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(letter.message.headers)) {
    if (!name.startsWith(reservedHeaderPrefix)) headers[name] = value
  }
  headers[SwitchyardHeaders.replayedFrom] = letter.message.topic
  const m = letter.message
  return {
    topic: letter.originalTopic ?? fallbackTopic,
    payload: m.payload,
    id: m.id,
    timestamp: Date.now(),
    headers,
    ...(m.key === undefined ? {} : { key: m.key }),
  }
}

/** The JSON record of one dead letter (`--json`). */
export function letterRecord(letter: DeadLetter): Record<string, unknown> {
  const m = letter.message
  return {
    id: m.id,
    key: m.key ?? null,
    topic: m.topic,
    originalTopic: letter.originalTopic ?? null,
    originalGroup: letter.originalGroup ?? null,
    errorName: letter.errorName ?? null,
    errorMessage: letter.errorMessage ?? null,
    retryable: letter.retryable,
    attempts: letter.attempts ?? null,
    firstFailureAt: letter.firstFailureAt === undefined ? null : isoTime(letter.firstFailureAt),
    deadLetteredAt: letter.deadLetteredAt === undefined ? null : isoTime(letter.deadLetteredAt),
    headers: m.headers,
    payload: showPayload(m.payload, m.headers),
  }
}

/** Reads the group's dead letters and applies `action` to the matching ones. */
export async function runDlq(
  ctx: CommandContext,
  topic: string,
  action: DlqAction,
  flags: DlqFlags,
): Promise<DlqResult> {
  const connection = await openTransport(ctx.env)
  const { transport } = connection
  const bus = new Bus(transport)
  const matched: DeadLetter[] = []
  const acted = new Set<string>()
  const work = new Set<Promise<void>>()
  let scanned = 0
  let settled = 0
  let failure: unknown
  let subscription: Subscription | undefined
  const settles = (action === 'replay' || action === 'purge') && !flags.dryRun
  // A running count on a terminal for long replays and purges; never in --json or when piped.
  const progress = settles && !ctx.out.json && process.stderr.isTTY === true
  try {
    await new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined
      let finished = false
      const finish = (): void => {
        finished = true
        clearTimeout(timer)
        resolve()
      }
      const dlqTopic = flags.dlqTopic ?? `${topic}.dlq`
      let readyAt = 0
      // Idle for --wait ms ends the read, except while nothing has arrived yet and the broker
      // says dead letters are waiting (a first fetch can be slow): then wait up to 10 × --wait.
      const quiet = async (): Promise<void> => {
        if (scanned === 0 && Date.now() - readyAt < 10 * flags.waitMs) {
          const health = await transport.health().catch(() => undefined)
          const mine = health?.subscriptions.find((s) => s.topic === dlqTopic && s.group === flags.group)
          if ((mine?.lag ?? 0) > 0 && scanned === 0) {
            idle()
            return
          }
        }
        finish()
      }
      const idle = (): void => {
        if (finished) return
        clearTimeout(timer)
        timer = setTimeout(() => void quiet(), flags.waitMs)
      }
      aborted(ctx.signal).then(finish)
      subscription = bus
        .deadLetters(topic, {
          group: flags.group,
          // Letters left alone stay unsettled until the end, so the window must hold them all:
          // a window of `limit` would stall `show` (limit 1) behind the first letter that is not it.
          inFlight: scanWindow,
          codec: bytesCodec,
          ...(flags.dlqTopic === undefined ? {} : { deadLetterTopic: flags.dlqTopic }),
          ...(transport.capabilities.replay ? { fromBeginning: true } : {}),
          onReady: () => {
            readyAt = Date.now()
            idle()
          },
        })
        .subscribe({
          next: (delivery) => {
            scanned++
            idle()
            const letter = delivery.message.payload
            if (failure !== undefined || matched.length >= flags.limit || !matches(letter, flags.filter))
              return
            // A replayed copy that fails again is dead-lettered again, with the same id, into the
            // topic this run is reading: acting on it again would replay it in a loop. Each id is
            // replayed (or purged) at most once per run; later copies stay in the DLQ.
            if (settles && acted.has(letter.message.id)) return
            if (settles) acted.add(letter.message.id)
            matched.push(letter)
            if (!settles) {
              if (action === 'show' && matched.length >= flags.limit) finish()
              return
            }
            const step =
              action === 'replay'
                ? // The copy is confirmed by the broker before the dead letter is acked: never lost.
                  transport.publish([replayCopy(letter, topic)]).then(() => delivery.ack())
                : delivery.ack()
            const tracked = step.then(
              () => {
                settled++
                if (progress && settled % 100 === 0)
                  process.stderr.write(`\r${ctx.out.c.dim(`${action}: ${settled}`)}`)
              },
              (error: unknown) => {
                failure ??= error
                finish()
              },
            )
            work.add(tracked)
            tracked.finally(() => work.delete(tracked))
            if (matched.length >= flags.limit) finish()
          },
          error: reject,
          complete: finish,
        })
    })
    await Promise.all(work)
    if (progress && settled >= 100) process.stderr.write('\n')
  } finally {
    subscription?.unsubscribe()
    await transport.whenDetached?.()
    await bus.close().catch(() => undefined)
    await connection.close()
  }
  if (failure !== undefined) {
    const what = action === 'replay' ? 'replayed' : 'purged'
    ctx.out.note(`${what} ${settled} of ${matched.length} before the failure; the rest are still in the DLQ.`)
    throw failure
  }
  return { scanned, matched, settled }
}

function printTable(ctx: CommandContext, letters: readonly DeadLetter[]): void {
  const { c } = ctx.out
  ctx.out.table(
    letters,
    [
      { header: 'ID', get: (l) => l.message.id },
      { header: 'KEY', get: (l) => l.message.key ?? '-' },
      { header: 'ERROR', get: (l) => l.errorName ?? '-', color: (t) => c.red(t) },
      { header: 'ATTEMPTS', get: (l) => String(l.attempts ?? '-') },
      { header: 'GROUP', get: (l) => l.originalGroup ?? '-' },
      { header: 'DEAD-LETTERED', get: (l) => isoTime(l.deadLetteredAt) },
      { header: 'MESSAGE', get: (l) => truncate(l.errorMessage ?? '', 60) },
    ],
    '(no dead letters)',
  )
}

function printLetter(ctx: CommandContext, letter: DeadLetter): void {
  const { out } = ctx
  const { c } = out
  const m = letter.message
  const field = (name: string, value: string): void => out.line(`${c.dim(name.padEnd(16))}${value}`)
  field('id', c.bold(m.id))
  field('key', m.key ?? '-')
  field('dead-letter topic', m.topic)
  field('original topic', letter.originalTopic ?? '-')
  field('original group', letter.originalGroup ?? '-')
  field('error', c.red(`${letter.errorName ?? '-'}: ${letter.errorMessage ?? ''}`))
  field('retryable', String(letter.retryable))
  field('attempts', String(letter.attempts ?? '-'))
  field('first failure', isoTime(letter.firstFailureAt))
  field('dead-lettered', isoTime(letter.deadLetteredAt))
  field('headers', '')
  for (const [k, v] of Object.entries(m.headers)) out.line(`  ${c.dim(k)}=${v}`)
  field('payload', '')
  const shown = showPayload(m.payload, m.headers)
  out.line(shown.encoding === 'json' ? JSON.stringify(shown.value, null, 2) : payloadText(shown))
}

export async function dlqCommand(
  ctx: CommandContext,
  action: DlqAction,
  topic: string,
  flags: DlqFlags,
): Promise<void> {
  const { out } = ctx
  const result = await runDlq(ctx, topic, action, flags)
  if (action === 'show') {
    const letter = result.matched[0]
    if (letter === undefined) {
      throw new CliError(
        `No dead letter ${flags.filter.ids?.join(', ')} in the DLQ of ${topic} (group ${flags.group}, ${result.scanned} read). ` +
          `List them with: switchyard dlq list ${topic}`,
        ExitCode.badInput,
      )
    }
    if (out.json) out.data(letterRecord(letter))
    else printLetter(ctx, letter)
    return
  }
  if (out.json) {
    out.data({
      action,
      topic,
      group: flags.group,
      dryRun: flags.dryRun,
      scanned: result.scanned,
      matched: result.matched.length,
      settled: result.settled,
      letters: result.matched.map(letterRecord),
    })
    return
  }
  printTable(ctx, result.matched)
  const c = out.c
  const summary =
    action === 'list'
      ? `${result.matched.length} dead letters (${result.scanned} read from group ${flags.group})`
      : flags.dryRun
        ? `dry run: would ${action} ${result.matched.length} of ${result.scanned} dead letters`
        : `${action === 'replay' ? 'replayed' : 'purged'} ${result.settled} of ${result.scanned} dead letters`
  out.line(c.dim(summary))
}
