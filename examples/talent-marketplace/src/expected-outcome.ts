/**
 * What a run of registrations 0 … count-1 must produce, computed from the generator alone, and a
 * check of reported outcomes against it. Used by the demo to know when it is done and by the
 * end-to-end tests to assert the same result on every transport.
 */
import type { StampedOutcome } from './outcome-log.js'
import { hasInvalidEmail, registrationAt } from './talent-generator.js'

export interface ExpectedOutcome {
  /** Registration ids that must be notified exactly once. */
  readonly notified: readonly string[]
  /** Registration ids that must end in the dead-letter topic. */
  readonly deadLettered: readonly string[]
  /** Versions the search index must apply: one `indexed` per registration. */
  readonly indexed: number
  /** Final version per talent. */
  readonly finalVersions: ReadonlyMap<string, number>
  /** Job ids that must be processed exactly once. */
  readonly jobs: readonly string[]
}

export function expectedOutcome(count: number): ExpectedOutcome {
  const notified: string[] = []
  const deadLettered: string[] = []
  const finalVersions = new Map<string, number>()
  const jobs: string[] = []
  for (let i = 0; i < count; i++) {
    const { event, job } = registrationAt(i)
    ;(hasInvalidEmail(i) ? deadLettered : notified).push(event.registrationId)
    finalVersions.set(event.talentId, Math.max(finalVersions.get(event.talentId) ?? 0, event.version))
    jobs.push(job.jobId)
  }
  return { notified, deadLettered, indexed: count, finalVersions, jobs }
}

/** Counts of the outcomes that matter, per type. */
export function tally(outcomes: readonly StampedOutcome[]) {
  const count = (type: StampedOutcome['type']) => outcomes.filter((o) => o.type === type).length
  return {
    notified: count('notification-sent'),
    duplicatesSkipped: count('duplicate-skipped'),
    deadLettered: count('dead-lettered'),
    indexed: count('indexed'),
    outOfOrder: count('out-of-order'),
    jobs: count('job-processed'),
  }
}

/** True once every expected outcome has been reported at least in number (exactness is the tests' job). */
export function reachedExpected(outcomes: readonly StampedOutcome[], expected: ExpectedOutcome): boolean {
  const t = tally(outcomes)
  return (
    t.notified >= expected.notified.length &&
    t.deadLettered >= expected.deadLettered.length &&
    t.indexed >= expected.indexed &&
    t.jobs >= expected.jobs.length
  )
}
