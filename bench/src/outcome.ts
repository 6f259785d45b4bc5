/**
 * `CaseOutcome`: everything measured for one case — both sides and the broker tool's ceiling —
 * and the figures derived from it (medians, spreads, ratios). No I/O.
 */
import type { CaseSpec } from './plan.js'
import type { RunResult } from './scenarios.js'
import { type Spread, spread } from './stats.js'
import type { WorkerResult } from './worker-result.js'

export interface Ceiling {
  /** e.g. "Kafka ProducerPerformance 4.3.1". */
  readonly tool: string
  /** msg/s of each repetition. */
  readonly values: readonly number[]
}

export interface CaseOutcome {
  readonly spec: CaseSpec
  switchyard?: WorkerResult
  raw?: WorkerResult
  ceiling?: Ceiling
  readonly errors: string[]
}

const reps = (result: WorkerResult | undefined): readonly RunResult[] => result?.reps ?? []

export function rateOf(result: WorkerResult | undefined): Spread | undefined {
  return spread(reps(result).map((r) => r.rate))
}

export function latencyOf(
  result: WorkerResult | undefined,
): { p50: Spread; p99: Spread; p999: Spread; count: number } | undefined {
  const runs = reps(result).filter((r) => r.latency !== undefined)
  const p50 = spread(runs.map((r) => r.latency?.p50 ?? 0))
  const p99 = spread(runs.map((r) => r.latency?.p99 ?? 0))
  const p999 = spread(runs.map((r) => r.latency?.p999 ?? 0))
  if (p50 === undefined || p99 === undefined || p999 === undefined) return undefined
  return { p50, p99, p999, count: runs.reduce((a, r) => a + (r.latency?.count ?? 0), 0) }
}

export function ceilingOf(outcome: CaseOutcome): Spread | undefined {
  return outcome.ceiling === undefined ? undefined : spread(outcome.ceiling.values)
}

/** Switchyard's median over the other's median. */
export function ratio(a: Spread | undefined, b: Spread | undefined): number | undefined {
  if (a === undefined || b === undefined || b.median === 0) return undefined
  return a.median / b.median
}

/** Runs that reported errors (rejected publishes, consumers not finished in time). */
export function errorCount(outcome: CaseOutcome): number {
  return [...reps(outcome.switchyard), ...reps(outcome.raw)].reduce((a, r) => a + r.errors, 0)
}
