/**
 * How services report what they did, so a person (the console) or a test (a file) can follow it.
 *
 * Services depend on the `OUTCOME_LOG` token only; each entry point chooses where outcomes go:
 * the console for the demo, a JSON-lines file per process for the end-to-end test
 * (`OUTCOMES_FILE`), memory for the in-process test. Outcomes are written outside the message
 * system on purpose, so a test reading them does not trust the transport it is testing.
 */
import { appendFileSync } from 'node:fs'
import type { InjectionToken } from 'tsyringe'

/** One thing a service did. */
export type Outcome =
  | { readonly type: 'ready'; readonly service: string }
  | { readonly type: 'listening'; readonly port: number }
  | {
      readonly type: 'published'
      readonly registrations: number
      readonly duplicates: number
      readonly jobs: number
    }
  | {
      readonly type: 'notification-sent'
      readonly registrationId: string
      readonly talentId: string
      readonly text: string
      readonly attempt: number
    }
  | { readonly type: 'duplicate-skipped'; readonly registrationId: string }
  | {
      readonly type: 'dead-lettered'
      readonly registrationId: string
      readonly reason: string
      readonly errorName: string
      readonly attempts: number
    }
  | { readonly type: 'indexed'; readonly talentId: string; readonly version: number }
  | {
      readonly type: 'out-of-order'
      readonly talentId: string
      readonly expectedVersion: number
      readonly version: number
    }
  | {
      readonly type: 'job-processed'
      readonly jobId: string
      readonly priority: number
      readonly worker: string
    }
  | { readonly type: 'template-changed'; readonly template: string }
  /** The load generator (job-load.ts): jobs the broker confirmed, on the transport of that moment. */
  | { readonly type: 'jobs-published'; readonly jobIds: readonly string[]; readonly transport: string }
  /** Jobs whose publish was rejected: not confirmed, so the sender would send them again. */
  | { readonly type: 'jobs-unconfirmed'; readonly jobIds: readonly string[]; readonly error: string }
  | {
      readonly type: 'load-done'
      readonly offered: number
      readonly confirmed: number
      readonly unconfirmed: number
      readonly startedAt: number
    }
  /** A live broker switch step of the app (`app.events$`), flattened for the log. */
  | {
      readonly type: 'transport-event'
      readonly event: string
      readonly revision: string | undefined
      readonly from?: string
      readonly to?: string
      readonly current?: string
      readonly reason?: string
      readonly publishMovedAt?: number
      readonly durationMs?: number
      readonly forwarded?: number
      readonly possibleDuplicates?: number
      readonly leftBehind?: number
    }

/** Where outcomes go. */
export interface OutcomeLog {
  record(outcome: Outcome): void
}

export const OUTCOME_LOG: InjectionToken<OutcomeLog> = Symbol('talent-marketplace.OutcomeLog')

/** An outcome with who reported it and when. */
export type StampedOutcome = Outcome & { readonly pid: number; readonly at: number }

/** Appends one JSON line per outcome to a file (synchronously, so nothing is lost on exit). */
export class FileOutcomeLog implements OutcomeLog {
  constructor(readonly path: string) {}
  record(outcome: Outcome): void {
    appendFileSync(this.path, `${JSON.stringify({ ...outcome, pid: process.pid, at: Date.now() })}\n`)
  }
}

/** Keeps outcomes in an array (for the in-process test and the demo's summary). */
export class MemoryOutcomeLog implements OutcomeLog {
  readonly outcomes: StampedOutcome[] = []
  record(outcome: Outcome): void {
    this.outcomes.push({ ...outcome, pid: process.pid, at: Date.now() })
  }
  /** Outcomes of one type. */
  of<K extends Outcome['type']>(type: K): Extract<StampedOutcome, { type: K }>[] {
    return this.outcomes.filter((o): o is Extract<StampedOutcome, { type: K }> => o.type === type)
  }
}

/**
 * Prints outcomes for people: every dead letter, out-of-order update and setting change, and a
 * sample of the rest (the first few of each type, then one in `every`).
 */
export class ConsoleOutcomeLog implements OutcomeLog {
  readonly #seen = new Map<string, number>()
  constructor(
    private readonly write: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
    private readonly every = 50,
  ) {}
  record(outcome: Outcome): void {
    const n = (this.#seen.get(outcome.type) ?? 0) + 1
    this.#seen.set(outcome.type, n)
    const always = [
      'dead-lettered',
      'out-of-order',
      'template-changed',
      'ready',
      'listening',
      'published',
      'transport-event',
      'load-done',
    ]
    if (!always.includes(outcome.type) && n > 3 && n % this.every !== 0) return
    this.write(`${describe(outcome)}${n > 3 && !always.includes(outcome.type) ? `   (#${n})` : ''}`)
  }
}

function describe(o: Outcome): string {
  switch (o.type) {
    case 'ready':
      return `✔ ${o.service} is subscribed and ready`
    case 'listening':
      return `✔ registration HTTP endpoint on http://127.0.0.1:${o.port}/registrations`
    case 'published':
      return `→ published ${o.registrations} talent.registered (+${o.duplicates} re-sent copies) and ${o.jobs} file.uploaded`
    case 'notification-sent':
      return `✉ notifications: ${o.registrationId} → "${o.text}"${o.attempt > 1 ? ` (attempt ${o.attempt})` : ''}`
    case 'duplicate-skipped':
      return `≡ notifications: ${o.registrationId} already sent, copy skipped`
    case 'dead-lettered':
      return `✖ dead letter: ${o.registrationId} after ${o.attempts} attempt(s): ${o.errorName}: ${o.reason}`
    case 'indexed':
      return `⌕ search-index: ${o.talentId} now at version ${o.version}`
    case 'out-of-order':
      return `! search-index: ${o.talentId} got version ${o.version}, expected ${o.expectedVersion}`
    case 'job-processed':
      return `⚙ ${o.worker}: ${o.jobId} done (priority ${o.priority})`
    case 'template-changed':
      return `⟳ notifications: template is now "${o.template}"`
    case 'jobs-published':
      return `→ load: ${o.jobIds.length} jobs confirmed by ${o.transport}`
    case 'jobs-unconfirmed':
      return `✖ load: ${o.jobIds.length} jobs not confirmed: ${o.error}`
    case 'load-done':
      return `■ load: done, ${o.confirmed} of ${o.offered} jobs confirmed`
    case 'transport-event':
      return o.event === 'transport-switch-refused'
        ? `✖ new transport document refused, staying on ${o.current}: ${o.reason}`
        : o.event === 'transport-switched'
          ? `⇄ switched ${o.from} → ${o.to} in ${o.durationMs} ms (${o.forwarded} forwarded)`
          : `⇄ switching ${o.from} → ${o.to}…`
  }
}

/** Sends every outcome to each of `logs`. */
export class TeeOutcomeLog implements OutcomeLog {
  readonly #logs: readonly OutcomeLog[]
  constructor(...logs: OutcomeLog[]) {
    this.#logs = logs
  }
  record(outcome: Outcome): void {
    for (const log of this.#logs) log.record(outcome)
  }
}
