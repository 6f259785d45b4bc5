/**
 * A deterministic stream of registrations for demos and tests: registration `i` is always the same.
 *
 * It includes the awkward cases on purpose:
 * - every 40th registration has an invalid email → notifications dead-letter it;
 * - every 9th fails once at the mail server → the retry policy recovers it;
 * - every 25th is sent twice (a producer retry) → notifications deduplicate by id;
 * - talents submit several versions → the search index must apply them in order.
 */
import type { FileUploaded, TalentRegistered } from './topics.js'

const categories = ['design', 'engineering', 'writing', 'marketing', 'data'] as const
const names = ['Ada', 'Grace', 'Linus', 'Margaret', 'Ken', 'Barbara', 'Dennis', 'Frances'] as const

/** Talents in the generated population; registration `i` belongs to talent `i % talentCount`. */
export const talentCount = 120

/** One generated registration and what it should cause. */
export interface GeneratedRegistration {
  readonly event: TalentRegistered
  readonly job: FileUploaded
  /** Job priority (0-9): premium talents get 8, others 1. */
  readonly priority: number
  /** Publish the event twice with the same id (a simulated producer retry). */
  readonly duplicate: boolean
}

/** True for inputs the notifications service must reject (they end in the dead-letter topic). */
export const hasInvalidEmail = (i: number): boolean => i % 40 === 7
/** True for inputs whose first delivery fails at the (simulated) mail server. */
export const failsOnce = (i: number): boolean => i % 9 === 4

/** Registration number `i` (0-based). */
export function registrationAt(i: number): GeneratedRegistration {
  const talent = i % talentCount
  const talentId = `talent-${String(talent).padStart(4, '0')}`
  const name = `${names[talent % names.length]} #${talent}`
  const registrationId = `reg-${String(i).padStart(6, '0')}`
  return {
    event: {
      registrationId,
      talentId,
      // The n-th submission of a talent is version n + 1.
      version: Math.floor(i / talentCount) + 1,
      name,
      email: hasInvalidEmail(i) ? `${talentId}.example.com` : `${talentId}@example.com`,
      category: categories[talent % categories.length] ?? 'design',
      premium: talent % 5 === 0,
    },
    job: {
      jobId: `job-${registrationId}`,
      talentId,
      fileName: `${talentId}-cv-v${i}.pdf`,
      sizeBytes: 10_000 + i,
    },
    priority: talent % 5 === 0 ? 8 : 1,
    duplicate: i % 25 === 11,
  }
}

/** Registrations `from` … `from + count - 1`. */
export function registrations(from: number, count: number): GeneratedRegistration[] {
  return Array.from({ length: count }, (_, k) => registrationAt(from + k))
}
