/**
 * `npm run bench` (through scripts/bench.sh): runs every case of the chosen transports, each side in
 * its own process, plus the brokers' own tools as ceilings, prints the tables and writes
 * BENCHMARKS.md.
 *
 * Usage: `node bench/dist/main.js [memory|kafka|rabbitmq|redis|nats|all ...] [--quick] [--only <case id part>[,<part>...]]
 * [--profile] [--no-ceilings | --tools-only] [--save <file.json>] [--write]`, or `node bench/dist/main.js --merge
 * <file.json ...> [--write]` to print (and write) the tables of runs saved separately — scripts/bench.sh
 * runs each broker under the brokers lock on its own and merges at the end. `--write` writes
 * BENCHMARKS.md. `--profile` runs the Switchyard workers under `node --cpu-prof` into bench/dist/profiles/.
 * The brokers must be up (scripts/bench.sh brings them up).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { ceilingsFor } from './ceilings.js'
import type { Side } from './client.js'
import { describeMachine } from './machine.js'
import type { CaseOutcome } from './outcome.js'
import { type CaseSpec, casesFor, type TransportName, transportNames } from './plan.js'
import {
  latencyTable,
  problems,
  requestReplyTable,
  rssTable,
  targets,
  targetsTable,
  throughputTable,
} from './report.js'
import { runWorker } from './run-worker.js'

interface Args {
  readonly transports: TransportName[]
  readonly quick: boolean
  readonly write: boolean
  readonly only: string | undefined
  readonly profile: boolean
  readonly ceilings: boolean
  readonly toolsOnly: boolean
  readonly save: string | undefined
  readonly merge: string[]
}

const usage =
  'usage: bench [memory|kafka|rabbitmq|redis|nats|all ...] [--quick] [--only <case>[,<case>...]] [--profile] [--no-ceilings] [--tools-only] ' +
  '[--save <file.json>] [--write] | bench --merge <file.json ...> [--write]'

function parseArgs(argv: readonly string[]): Args {
  const transports = new Set<TransportName>()
  let quick = false
  let write = false
  let only: string | undefined
  let save: string | undefined
  let profile = false
  let ceilings = true
  let toolsOnly = false
  const merge: string[] = []
  let merging = false
  const value = (i: number, flag: string): string => {
    const v = argv[i]
    if (v === undefined || v.startsWith('--')) throw new Error(`${flag} needs a value\n${usage}`)
    return v
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    if (arg === '--quick') quick = true
    else if (arg === '--write') write = true
    else if (arg === '--profile') profile = true
    else if (arg === '--no-ceilings') ceilings = false
    else if (arg === '--tools-only') toolsOnly = true
    else if (arg === '--only') only = value(++i, arg)
    else if (arg === '--save') save = value(++i, arg)
    else if (arg === '--merge') merging = true
    else if (merging && !arg.startsWith('--')) merge.push(arg)
    else if (arg === 'all') for (const t of transportNames) transports.add(t)
    else if ((transportNames as readonly string[]).includes(arg)) transports.add(arg as TransportName)
    else throw new Error(`unknown argument '${arg}'\n${usage}`)
  }
  const chosen = transports.size === 0 ? [...transportNames] : transportNames.filter((t) => transports.has(t))
  return { transports: chosen, quick, write, only, profile, ceilings, toolsOnly, save, merge }
}

/** What `--save` writes and `--merge` reads. */
interface SavedRun {
  readonly machine: string[]
  readonly quick: boolean
  readonly transports: TransportName[]
  readonly elapsedS: number
  readonly outcomes: CaseOutcome[]
}

const log = (line: string): void => {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`)
}

/** Generous per-worker bound: warm-up plus every repetition, plus connection and group-join time. */
function workerTimeout(spec: CaseSpec): number {
  return Math.min(600_000, (spec.reps + 1) * (spec.maxMs + 45_000) + 30_000)
}

async function runCase(
  spec: CaseSpec,
  order: readonly Side[],
  profileDir: string | undefined,
): Promise<CaseOutcome> {
  const outcome: CaseOutcome = { spec, errors: [] }
  for (const side of order) {
    if (side === 'raw' && !spec.paired) continue
    const began = Date.now()
    try {
      const result = await runWorker(spec, side, {
        timeoutMs: workerTimeout(spec),
        ...(profileDir !== undefined && side === 'switchyard' ? { cpuProfileDir: profileDir } : {}),
      })
      outcome[side] = result
      const rates = result.reps.map((r) => Math.round(r.rate).toLocaleString('en-US')).join(', ')
      log(
        `  ${spec.id} ${side}: ${rates} ${spec.scenario.kind === 'request' ? 'requests' : 'msg'}/s (${((Date.now() - began) / 1000).toFixed(1)} s)`,
      )
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error)
      outcome.errors.push(message)
      log(`  ${spec.id} ${side}: FAILED ${message}`)
    }
  }
  return outcome
}

async function measure(args: Args): Promise<SavedRun> {
  const began = Date.now()
  const machine = await describeMachine()
  const benchDir = fileURLToPath(new URL('../', import.meta.url))
  const profileDir = args.profile ? `${benchDir}dist/profiles` : undefined
  if (profileDir !== undefined) mkdirSync(profileDir, { recursive: true })
  log(`bench: ${args.transports.join(', ')}${args.quick ? ' (quick)' : ''}`)
  const outcomes: CaseOutcome[] = []
  for (const transport of args.transports) {
    log(`${transport}:`)
    const cases = casesFor(transport, { quick: args.quick }).filter(
      (c) => args.only === undefined || args.only.split(',').some((part) => c.id.includes(part)),
    )
    const mine: CaseOutcome[] = []
    for (const [index, spec] of cases.entries()) {
      // Alternate which side goes first, so slow drift in machine load does not favour one side.
      const order: Side[] = index % 2 === 0 ? ['switchyard', 'raw'] : ['raw', 'switchyard']
      mine.push(args.toolsOnly ? { spec, errors: [] } : await runCase(spec, order, profileDir))
    }
    if (args.ceilings && args.only === undefined)
      await ceilingsFor(transport, mine, { quick: args.quick, log })
    outcomes.push(...mine)
  }
  return {
    machine,
    quick: args.quick,
    transports: args.transports,
    elapsedS: (Date.now() - began) / 1000,
    outcomes,
  }
}

function render(run: SavedRun): string {
  const checked = targets(run.outcomes)
  const issues = problems(run.outcomes)
  return [
    '## Throughput',
    '',
    throughputTable(run.outcomes),
    '',
    '## End-to-end latency (publish call → consumer callback)',
    '',
    latencyTable(run.outcomes),
    '',
    ...(run.outcomes.some((o) => o.spec.scenario.kind === 'request')
      ? [
          '## Request–reply round trip (request call → reply received)',
          '',
          'Ratios are Switchyard over raw: above 1 for latency, below 1 for requests/s, Switchyard is slower.',
          '',
          requestReplyTable(run.outcomes),
          '',
        ]
      : []),
    '## Memory of the consuming process (RSS, Switchyard side)',
    '',
    rssTable(run.outcomes),
    '',
    '## Targets',
    '',
    targetsTable(checked),
    '',
    ...(issues.length > 0 ? ['## Problems during the run', '', ...issues.map((p) => `- ${p}`), ''] : []),
  ].join('\n')
}

async function mergeRuns(paths: readonly string[]): Promise<SavedRun> {
  const runs = paths.map((p) => JSON.parse(readFileSync(p, 'utf8')) as SavedRun)
  const first = runs[0]
  if (first === undefined) throw new Error(`--merge needs at least one file\n${usage}`)
  // Versions are read again (they do not change between measuring and merging); the load is the run's.
  const load = (m: readonly string[]): string[] => m.filter((line) => line.startsWith('Load average'))
  const fresh = (await describeMachine()).filter((line) => !line.startsWith('Load average'))
  return {
    machine: [
      ...fresh.slice(0, 2),
      ...runs.flatMap((r) => load(r.machine).map((line) => `${line} (${r.transports.join(', ')})`)),
      ...fresh.slice(2),
    ],
    quick: runs.some((r) => r.quick),
    transports: runs.flatMap((r) => r.transports),
    elapsedS: runs.reduce((a, r) => a + r.elapsedS, 0),
    outcomes: runs.flatMap((r) => r.outcomes),
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2))
  const run = args.merge.length > 0 ? await mergeRuns(args.merge) : await measure(args)
  if (args.save !== undefined && args.merge.length === 0) {
    // scripts/bench.sh saves each transport and prints the merged tables once at the end.
    writeFileSync(args.save, JSON.stringify(run))
    log(`saved ${args.save} (${run.elapsedS.toFixed(0)} s of measuring)`)
    if (!args.write) return
  }
  const body = render(run)
  process.stdout.write(`\n${body}\nmeasured in ${run.elapsedS.toFixed(0)} s\n`)
  if (args.write) {
    const path = fileURLToPath(new URL('../../BENCHMARKS.md', import.meta.url))
    writeFileSync(path, benchmarksMarkdown(run, body))
    log(`wrote ${path}`)
  }
}

/** The hand-written profile findings (bench/findings.md), quoted at the end of BENCHMARKS.md. */
function findings(): string[] {
  try {
    const text = readFileSync(fileURLToPath(new URL('../findings.md', import.meta.url)), 'utf8')
    return ['', text.trim(), '']
  } catch {
    return []
  }
}

function benchmarksMarkdown(run: SavedRun, body: string): string {
  return [
    '# Benchmarks',
    '',
    `Written by \`npm run bench${run.quick ? ' -- --quick' : ''}\` on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC ` +
      `(${run.transports.join(', ')}; ${run.elapsedS.toFixed(0)} s of measuring). How it measures, and why: ` +
      '[bench/README.md](bench/README.md).',
    '',
    '## Machine',
    '',
    ...run.machine.map((line) => `- ${line}`),
    '',
    'Figures are the median of the repetitions with the spread (min–max) in brackets; each side runs in its own ' +
      'process after a warm-up run. "raw" is the client library doing the same work with the same settings ' +
      '(kafkajs, amqplib, a bare RxJS Subject for memory); "ceiling" is the broker\'s own tool. The machine is ' +
      'shared (2 cores), so compare ratios within a run rather than absolute figures across runs.',
    '',
    body,
    ...findings(),
  ].join('\n')
}

main().catch((error: unknown) => {
  process.stderr.write(
    `bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  )
  process.exit(1)
})
