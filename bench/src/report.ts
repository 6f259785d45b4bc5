/**
 * Turns the outcomes into Markdown: the throughput table with Switchyard/raw and
 * Switchyard/ceiling ratios, the latency table, the request–reply table, the RSS soak, and the
 * targets with met / not met.
 * The same text is printed and written to BENCHMARKS.md. No I/O here.
 */
import { type CaseOutcome, ceilingOf, errorCount, latencyOf, rateOf, ratio } from './outcome.js'
import { rawRequestReply, type TransportName } from './plan.js'
import type { RunResult } from './scenarios.js'
import { formatMicros, formatRate, formatRatio, formatSpread, type Spread } from './stats.js'

const title: Record<TransportName, string> = {
  memory: 'memory',
  kafka: 'Kafka',
  rabbitmq: 'RabbitMQ',
  redis: 'Redis',
  nats: 'NATS',
}

function isThroughput(o: CaseOutcome): boolean {
  const kind = o.spec.scenario.kind
  return (
    kind === 'publish' || kind === 'consume' || kind === 'e2e' || kind === 'saturation' || kind === 'burst'
  )
}

/** The throughput table: every publish/consume case and the saturation run, with ratios. */
export function throughputTable(outcomes: readonly CaseOutcome[]): string {
  const rows = [
    '| transport | case | Switchyard msg/s | raw msg/s | Switchyard/raw | ceiling msg/s (tool) | Switchyard/ceiling |',
    '|---|---|--:|--:|--:|--:|--:|',
  ]
  for (const o of outcomes.filter(isThroughput)) {
    const sy = rateOf(o.switchyard)
    const raw = rateOf(o.raw)
    const ceiling = ceilingOf(o)
    const errors = errorCount(o)
    const note = errors > 0 ? ` ⚠ ${errors} error(s)` : ''
    rows.push(
      `| ${title[o.spec.transport]} | ${o.spec.label}${note} | ${formatSpread(sy)} | ${formatSpread(raw)} | ` +
        `${formatRatio(ratio(sy, raw))} | ${ceiling ? `${formatSpread(ceiling)} (${o.ceiling?.tool})` : 'n/a'} | ` +
        `${formatRatio(ratio(sy, ceiling))} |`,
    )
  }
  return rows.join('\n')
}

const lat = (s: Spread | undefined): string => (s === undefined ? 'n/a' : formatSpread(s, formatMicros))

/** The latency table: p50/p99/p99.9 of both sides at 1,000 msg/s and at saturation. */
export function latencyTable(outcomes: readonly CaseOutcome[]): string {
  const rows = [
    '| transport | load | side | delivered msg/s | p50 | p99 | p99.9 |',
    '|---|---|---|--:|--:|--:|--:|',
  ]
  for (const o of outcomes) {
    const kind = o.spec.scenario.kind
    if (kind !== 'rate' && kind !== 'saturation') continue
    for (const [side, result] of [
      ['Switchyard', o.switchyard],
      ['raw', o.raw],
    ] as const) {
      const l = latencyOf(result)
      rows.push(
        `| ${title[o.spec.transport]} | ${o.spec.label} | ${side} | ${formatSpread(rateOf(result))} | ` +
          `${lat(l?.p50)} | ${lat(l?.p99)} | ${lat(l?.p999)} |`,
      )
    }
  }
  return rows.join('\n')
}

/**
 * The request–reply table: one row per transport and load, both sides side by side. Ratios are
 * Switchyard over raw: above 1 for latency, below 1 for requests/s, means Switchyard is slower.
 */
export function requestReplyTable(outcomes: readonly CaseOutcome[]): string {
  const rows = [
    '| transport | case | raw client | Switchyard req/s | raw req/s | req/s Switchyard/raw | Switchyard p50 | raw p50 | p50 Switchyard/raw | Switchyard p99 | raw p99 | p99 Switchyard/raw |',
    '|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
  ]
  for (const o of outcomes) {
    if (o.spec.scenario.kind !== 'request') continue
    const sy = latencyOf(o.switchyard)
    const raw = latencyOf(o.raw)
    const errors = errorCount(o)
    const note = errors > 0 ? ` ⚠ ${errors} error(s)` : ''
    rows.push(
      `| ${title[o.spec.transport]} | ${o.spec.label}${note} | ${rawRequestReply[o.spec.transport] ?? 'none'} | ` +
        `${formatSpread(rateOf(o.switchyard))} | ${formatSpread(rateOf(o.raw))} | ${formatRatio(ratio(rateOf(o.switchyard), rateOf(o.raw)))} | ` +
        `${lat(sy?.p50)} | ${lat(raw?.p50)} | ${formatRatio(ratio(sy?.p50, raw?.p50))} | ` +
        `${lat(sy?.p99)} | ${lat(raw?.p99)} | ${formatRatio(ratio(sy?.p99, raw?.p99))} |`,
    )
  }
  return rows.join('\n')
}

/** The RSS soak of each transport's consuming process (Switchyard side). */
export function rssTable(outcomes: readonly CaseOutcome[]): string {
  const rows = [
    '| transport | run | messages | msg/s | RSS warm | RSS max | RSS end | RSS slope, 2nd half | live heap after GC, first → last |',
    '|---|---|--:|--:|--:|--:|--:|--:|--:|',
  ]
  for (const o of outcomes) {
    if (o.spec.scenario.kind !== 'soak') continue
    const run: RunResult | undefined = o.switchyard?.reps[0]
    const rss = run?.rss
    if (run === undefined || rss === undefined) {
      rows.push(`| ${title[o.spec.transport]} | ${o.spec.label} | n/a | n/a | n/a | n/a | n/a | n/a | n/a |`)
      continue
    }
    rows.push(
      `| ${title[o.spec.transport]} | ${o.spec.label} | ${formatRate(run.count)} | ${formatRate(run.rate)} | ` +
        `${rss.warmMiB.toFixed(0)} MiB | ${rss.maxMiB.toFixed(0)} MiB | ${rss.endMiB.toFixed(0)} MiB | ` +
        `${rss.slopeMiBPerMin >= 0 ? '+' : ''}${rss.slopeMiBPerMin.toFixed(1)} MiB/min | ` +
        `${rss.heapAfterGcFirstMiB === undefined ? 'n/a' : `${rss.heapAfterGcFirstMiB.toFixed(1)} → ${(rss.heapAfterGcLastMiB ?? 0).toFixed(1)} MiB`} |`,
    )
  }
  return rows.join('\n')
}

export interface TargetResult {
  readonly target: string
  readonly measured: string
  readonly met: boolean | undefined
}

const find = (outcomes: readonly CaseOutcome[], id: string): CaseOutcome | undefined =>
  outcomes.find((o) => o.spec.id === id)

/** The issue's targets, checked against the medians. `met` is undefined when not measured. */
export function targets(outcomes: readonly CaseOutcome[]): TargetResult[] {
  const results: TargetResult[] = []
  const paired = outcomes.filter(
    (o) =>
      o.spec.paired &&
      o.spec.scenario.kind !== 'rate' &&
      o.spec.scenario.kind !== 'request' && // compared in its own table, not a throughput pair
      o.spec.variant === undefined,
  )
  const below = paired
    .map((o) => ({ o, r: ratio(rateOf(o.switchyard), rateOf(o.raw)) }))
    .filter((x) => x.r !== undefined)
  if (below.length > 0) {
    const misses = below.filter((x) => (x.r as number) < 0.95)
    results.push({
      target: 'Switchyard/raw ≥ 0.95 for every throughput pair',
      measured:
        misses.length === 0
          ? `all ${below.length} pairs ≥ 0.95`
          : `${below.length - misses.length} of ${below.length} pairs; below: ${misses
              .map((x) => `${x.o.spec.id} ${formatRatio(x.r)}`)
              .join(', ')}`,
      met: misses.length === 0,
    })
  }
  const otel = outcomes
    .filter((o) => o.spec.variant !== undefined)
    .map((o) => ({ o, r: ratio(rateOf(o.switchyard), rateOf(o.raw)) }))
  for (const transport of new Set(otel.map((x) => x.o.spec.transport))) {
    const of = otel.filter((x) => x.o.spec.transport === transport)
    results.push({
      target: `${transport}: throughput with @switchyard/otel on (SDK, no-op exporters) ≥ 0.9× off`,
      measured: of.map((x) => `${x.o.spec.id} ${x.r === undefined ? 'n/a' : formatRatio(x.r)}`).join(', '),
      met: of.every((x) => x.r !== undefined && x.r >= 0.9),
    })
  }
  const check = (
    target: string,
    id: string,
    value: (o: CaseOutcome) => number | undefined,
    ok: (v: number) => boolean,
    format: (v: number) => string,
  ): void => {
    const o = find(outcomes, id)
    const v = o === undefined ? undefined : value(o)
    if (o === undefined) return
    results.push({
      target,
      measured: v === undefined ? 'n/a' : format(v),
      met: v === undefined ? false : ok(v),
    })
  }
  const syRate = (o: CaseOutcome): number | undefined => rateOf(o.switchyard)?.median
  const msgs = (v: number): string => `${formatRate(v)} msg/s`
  check(
    'memory: ≥ 1,000,000 msg/s acked end to end through the Bus',
    'memory.e2e',
    syRate,
    (v) => v >= 1e6,
    msgs,
  )
  check(
    'memory: p99 < 1 ms at 1,000 msg/s',
    'memory.latency.rate1000',
    (o) => latencyOf(o.switchyard)?.p99.median,
    (v) => v < 1000,
    formatMicros,
  )
  check(
    'Kafka: batched publish ≥ 100,000 msg/s of 100 B',
    'kafka.publish.batched.100',
    syRate,
    (v) => v >= 1e5,
    msgs,
  )
  check(
    'Kafka: consume ≥ 100,000 msg/s',
    'kafka.consume.c16',
    (o) =>
      Math.max(
        rateOf(o.switchyard)?.median ?? 0,
        rateOf(find(outcomes, 'kafka.consume.c1')?.switchyard)?.median ?? 0,
      ),
    (v) => v >= 1e5,
    (v) => `${msgs(v)} (best of concurrency 1 and 16)`,
  )
  check(
    'RabbitMQ: ≥ 20,000 persistent msg/s published with confirms',
    'rabbitmq.publish.batched.100',
    syRate,
    (v) => v >= 2e4,
    msgs,
  )
  check(
    'RabbitMQ: consume ≥ 20,000 msg/s',
    'rabbitmq.consume.c16',
    (o) =>
      Math.max(
        rateOf(o.switchyard)?.median ?? 0,
        rateOf(find(outcomes, 'rabbitmq.consume.c1')?.switchyard)?.median ?? 0,
      ),
    (v) => v >= 2e4,
    (v) => `${msgs(v)} (best of concurrency 1 and 16)`,
  )
  return results
}

export function targetsTable(results: readonly TargetResult[]): string {
  const rows = ['| target | measured (Switchyard, median) | met |', '|---|---|---|']
  for (const r of results)
    rows.push(`| ${r.target} | ${r.measured} | ${r.met === undefined ? 'n/a' : r.met ? 'yes' : 'NO'} |`)
  return rows.join('\n')
}

/** Every problem met while running: failed workers, failed tools, runs with errors. */
export function problems(outcomes: readonly CaseOutcome[]): string[] {
  const list: string[] = []
  for (const o of outcomes) {
    for (const e of o.errors) list.push(`${o.spec.id}: ${e}`)
    const n = errorCount(o)
    if (n > 0)
      list.push(
        `${o.spec.id}: ${n} repetition error(s) (rejected publishes or a consumer not finished in time)`,
      )
  }
  return list
}
