/**
 * The end-to-end scenario shared by the memory test (one process) and the broker tests (one
 * process per service): drive 1,000 registrations, change the live template on the way, and
 * assert the same outcome on every transport. Not a test file itself.
 */
import { expect } from 'vitest'
import { type ExpectedOutcome, expectedOutcome, reachedExpected } from '../expected-outcome.js'
import { defaultTemplate } from '../notification-settings.js'
import type { StampedOutcome } from '../outcome-log.js'
import { registrations } from '../talent-generator.js'
import type { IndexedTalent, TalentSearch, TalentSearchResult } from '../topics.js'
import { waitFor } from '../wait-for.js'

export const total = 1_000
/** Registrations published before the template changes; the rest follow it. */
export const firstPhase = 900
export const newTemplate = 'Hi {name}, clients can now find you under {category} (profile v{version}).'

/** How a test drives and observes one running system. */
export interface SystemUnderTest {
  /** Publishes generated registrations `from` … `from + count - 1` through the registration service. */
  publish(from: number, count: number): Promise<void>
  /** Every outcome reported so far, in report order per process. */
  outcomes(): readonly StampedOutcome[]
  /** Writes the notification template into the config store. */
  setTemplate(template: string): Promise<void>
  /** Longest wait for a phase to be fully handled. */
  readonly phaseTimeoutMs: number
}

/** Runs the scenario; resolves, once every assertion has passed, with how long the template change took. */
export async function runMarketplaceScenario(system: SystemUnderTest): Promise<{ templateChangeMs: number }> {
  await system.publish(0, firstPhase)
  await waitFor(
    `${firstPhase} registrations to be handled`,
    () => reachedExpected(system.outcomes(), expectedOutcome(firstPhase)),
    system.phaseTimeoutMs,
  )

  // The live setting: after the change, a notification must use the new template within 1 s.
  // Registrations keep arriving one by one meanwhile, as they would in production.
  const changedAt = Date.now()
  await system.setTemplate(newTemplate)
  let next = firstPhase
  const usesNewTemplate = () =>
    system.outcomes().some((o) => o.type === 'notification-sent' && o.text.startsWith('Hi '))
  await waitFor(
    'a notification with the new template',
    async () => {
      if (usesNewTemplate()) return true
      if (next < total) await system.publish(next++, 1)
      return usesNewTemplate()
    },
    1_000,
    25,
  )
  const firstNew = system
    .outcomes()
    .find((o) => o.type === 'notification-sent' && o.text.startsWith('Hi ')) as StampedOutcome
  const templateChangeMs = firstNew.at - changedAt
  expect(templateChangeMs).toBeLessThanOrEqual(1_000)

  if (next < total) await system.publish(next, total - next)
  const expected = expectedOutcome(total)
  await waitFor(
    'all registrations to be handled',
    () => reachedExpected(system.outcomes(), expected),
    system.phaseTimeoutMs,
  )
  assertOutcome(system.outcomes(), expected)
  return { templateChangeMs }
}

/** The outcome every transport must produce for registrations 0 … total-1. */
export function assertOutcome(outcomes: readonly StampedOutcome[], expected: ExpectedOutcome): void {
  const of = <K extends StampedOutcome['type']>(type: K) =>
    outcomes.filter((o): o is Extract<StampedOutcome, { type: K }> => o.type === type)
  const sorted = (ids: readonly string[]) => [...ids].sort()

  // Every valid registration notified exactly once (re-sent copies were skipped by id).
  const sent = of('notification-sent')
  expect(sorted(sent.map((o) => o.registrationId))).toEqual(sorted(expected.notified))
  const resent = registrations(0, total).filter((r) => r.duplicate).length
  expect(of('duplicate-skipped').length).toBeGreaterThanOrEqual(resent)
  // Retries recovered the registrations whose first try failed at the mail server.
  expect(sent.filter((o) => o.attempt > 1).length).toBeGreaterThan(0)

  // The dead-letter topic holds exactly the invalid inputs, each with its reason.
  const dead = of('dead-lettered')
  expect(sorted(dead.map((o) => o.registrationId))).toEqual(sorted(expected.deadLettered))
  for (const d of dead) {
    expect(d.errorName).toBe('InvalidEmailError')
    expect(d.reason).toContain('is not an email address')
    expect(d.attempts).toBe(1)
  }

  // The search index applied every version of every talent once, in order.
  expect(of('out-of-order')).toEqual([])
  const versions = new Map<string, number[]>()
  for (const o of of('indexed')) versions.set(o.talentId, [...(versions.get(o.talentId) ?? []), o.version])
  expect(versions.size).toBe(expected.finalVersions.size)
  for (const [talentId, final] of expected.finalVersions) {
    expect(versions.get(talentId), talentId).toEqual(Array.from({ length: final }, (_, i) => i + 1))
  }

  // Every job processed exactly once.
  expect(sorted(of('job-processed').map((o) => o.jobId))).toEqual(sorted(expected.jobs))

  // Once a notification used the new template, none used the old one again (per process).
  for (const pid of new Set(sent.map((o) => o.pid))) {
    const texts = sent.filter((o) => o.pid === pid).map((o) => o.text.startsWith('Hi '))
    const first = texts.indexOf(true)
    expect(first).toBeGreaterThanOrEqual(0)
    expect(texts.slice(first).every(Boolean)).toBe(true)
  }
  expect(sent.filter((o) => o.text.startsWith(defaultTemplate.slice(0, 8))).length).toBeGreaterThan(0)
}

/**
 * What the search index must answer to `query` once registrations 0 … total-1 are indexed,
 * computed from the generator alone (not from the service's own search code).
 */
export function expectedSearch(query: TalentSearch): TalentSearchResult {
  const latest = new Map<string, IndexedTalent>()
  for (const { event } of registrations(0, total)) {
    const { talentId, version, name, category } = event
    if ((latest.get(talentId)?.version ?? 0) < version)
      latest.set(talentId, { talentId, version, name, category })
  }
  const matches = [...latest.values()]
    .filter((t) => query.category === undefined || t.category === query.category)
    .filter((t) => query.name === undefined || t.name.toLowerCase().includes(query.name.toLowerCase()))
    .sort((a, b) => (a.talentId < b.talentId ? -1 : 1))
  return { total: matches.length, talents: matches.slice(0, query.limit ?? 20) }
}

/** Queries `GET /talents` answers (request–reply to the search index) after the scenario. */
const searches: readonly TalentSearch[] = [
  { category: 'design', limit: 5 },
  { name: 'ada' },
  { category: 'design', name: 'ada' },
  { category: 'astronomy' },
]

/**
 * Asks the search index through the registration HTTP endpoint at `port` (which sends
 * `bus.request` to `search.talents`) and checks each answer against {@link expectedSearch}.
 */
export async function assertSearch(port: number): Promise<void> {
  for (const query of searches) {
    const params = new URLSearchParams(
      Object.entries(query).map(([k, v]): [string, string] => [k, String(v)]),
    )
    const res = await fetch(`http://127.0.0.1:${port}/talents?${params}`)
    const body = (await res.json()) as unknown
    expect(res.status, JSON.stringify(body)).toBe(200)
    expect(body, params.toString()).toEqual(expectedSearch(query))
  }
  // Sanity of the expectations themselves: the queries do find talents (and one finds none).
  expect(searches.map((q) => expectedSearch(q).total)).toEqual([24, 15, 3, 0])
}
