/**
 * What the benchmark runs: the cases of each transport, with their sizes, batch/window sizes,
 * counts and time bounds, for the full run and for `--quick`.
 *
 * One place for every number, so BENCHMARKS.md can quote the settings. This module runs nothing.
 */

export type TransportName = 'memory' | 'kafka' | 'rabbitmq' | 'redis' | 'nats'
export const transportNames: readonly TransportName[] = ['memory', 'kafka', 'rabbitmq', 'redis', 'nats']

export type Scenario =
  | { readonly kind: 'publish'; readonly size: number; readonly batch: number }
  | { readonly kind: 'consume'; readonly size: number; readonly concurrency: number }
  | { readonly kind: 'rate'; readonly size: number; readonly perSecond: number }
  | { readonly kind: 'saturation'; readonly size: number; readonly window: number; readonly batch: number }
  | {
      readonly kind: 'e2e'
      readonly size: number
      readonly window: number
      readonly batch: number
      readonly concurrency: number
    }
  | { readonly kind: 'soak'; readonly size: number; readonly window: number; readonly batch: number }
  /** Request–reply round trips (`request-reply.ts`), `inFlight` requests outstanding at a time. */
  | { readonly kind: 'request'; readonly size: number; readonly inFlight: number }
  | {
      readonly kind: 'burst'
      readonly size: number
      readonly count: number
      readonly batch: number
      readonly concurrency: number
    }

/** One case as handed to a worker process. */
export interface CaseSpec {
  readonly id: string
  readonly label: string
  readonly transport: TransportName
  readonly scenario: Scenario
  /** Measured repetitions after one warm-up run. */
  readonly reps: number
  /** Upper bound of one repetition: messages, and ms. */
  readonly maxCount: number
  readonly maxMs: number
  /** Latency runs: warm-up inside each run, ms. */
  readonly warmupMs: number
  /** Whether the raw client is measured too (the soak measures Switchyard only). */
  readonly paired: boolean
  /**
   * `otel`: the pair is the Bus with `@switchyard/otel` on ("switchyard", every trace sampled) and
   * off ("raw"); `otel-sampled`: the same with 1% of traces sampled (metrics always on).
   */
  readonly variant?: 'otel' | 'otel-sampled'
}

export interface PlanOptions {
  readonly quick: boolean
}

interface TransportSettings {
  /** Messages per batch / confirm window in the batched publish mode. */
  readonly batch: number
  /** Upper bounds of one publish repetition. */
  readonly publishMs: number
  readonly publishCount: number
  /** Messages queued for one consume repetition. */
  readonly consumeCount: number
  readonly consumeMs: number
  /** Saturation: unconsumed messages at most, and publish batch. */
  readonly window: number
  readonly windowBatch: number
}

const settings: Record<TransportName, TransportSettings> = {
  memory: {
    batch: 100,
    publishMs: 1000,
    publishCount: 3_000_000,
    consumeCount: 300_000,
    consumeMs: 20_000,
    window: 1000,
    windowBatch: 100,
  },
  kafka: {
    batch: 1000,
    publishMs: 3000,
    publishCount: 600_000,
    consumeCount: 150_000,
    consumeMs: 30_000,
    window: 10_000,
    windowBatch: 1000,
  },
  rabbitmq: {
    batch: 500,
    publishMs: 3000,
    publishCount: 200_000,
    consumeCount: 20_000,
    consumeMs: 30_000,
    window: 2000,
    windowBatch: 500,
  },
  redis: {
    batch: 1000,
    publishMs: 3000,
    publishCount: 400_000,
    consumeCount: 100_000,
    consumeMs: 30_000,
    window: 10_000,
    windowBatch: 1000,
  },
  nats: {
    batch: 500,
    publishMs: 3000,
    publishCount: 200_000,
    consumeCount: 40_000,
    consumeMs: 30_000,
    window: 2000,
    windowBatch: 500,
  },
}

/**
 * The raw client's own request–reply each transport is compared with (`request-reply-raw.ts`);
 * `undefined`: none, the Switchyard side runs alone.
 */
export const rawRequestReply: Record<TransportName, string | undefined> = {
  memory: undefined,
  kafka: undefined,
  rabbitmq: 'amqplib, direct reply-to',
  redis: 'node-redis, streams by hand',
  nats: '@nats-io, core NATS request',
}

export function batchOf(transport: TransportName): number {
  return settings[transport].batch
}

export function settingsOf(transport: TransportName): TransportSettings {
  return settings[transport]
}

/** The cases of one transport, in run order. */
export function casesFor(transport: TransportName, options: PlanOptions): CaseSpec[] {
  const s = settings[transport]
  const reps = options.quick ? 1 : 3
  const scale = options.quick ? 0.5 : 1
  const cases: CaseSpec[] = []
  const add = (
    id: string,
    label: string,
    scenario: Scenario,
    maxCount: number,
    maxMs: number,
    warmupMs = 0,
    paired = true,
  ): void => {
    cases.push({
      id: `${transport}.${id}`,
      label,
      transport,
      scenario,
      reps: scenario.kind === 'soak' ? 1 : reps,
      maxCount,
      maxMs,
      warmupMs,
      paired,
    })
  }
  for (const size of [100, 1024]) {
    const name = size === 100 ? '100 B' : '1 KiB'
    add(
      `publish.awaited.${size}`,
      `publish ${name}, awaited one at a time`,
      { kind: 'publish', size, batch: 1 },
      s.publishCount,
      s.publishMs * scale,
    )
    add(
      `publish.batched.${size}`,
      `publish ${name}, ${transport === 'rabbitmq' ? 'confirm window' : 'batches'} of ${s.batch}`,
      { kind: 'publish', size, batch: s.batch },
      s.publishCount,
      s.publishMs * scale,
    )
  }
  for (const concurrency of [1, 16]) {
    add(
      `consume.c${concurrency}`,
      `consume 100 B with ack, concurrency ${concurrency}`,
      { kind: 'consume', size: 100, concurrency },
      Math.round(s.consumeCount * scale),
      s.consumeMs,
    )
  }
  const latencyMs = options.quick ? 2500 : 3000
  const warmupMs = 1000
  // Memory: the simplest consumer (ack inside subscribe); brokers: the Bus's default in-flight limit.
  const e2eConcurrency = transport === 'memory' ? 1 : 64
  add(
    'e2e',
    `publish → consume → ack, 100 B, batches of ${s.windowBatch}, window ${s.window}, concurrency ${e2eConcurrency}`,
    { kind: 'e2e', size: 100, window: s.window, batch: s.windowBatch, concurrency: e2eConcurrency },
    Number.MAX_SAFE_INTEGER,
    options.quick ? 2000 : 2500,
    1000,
  )
  // The loop applications write (issue 14): one publish per message, awaited together; raw batches of 1,000.
  const burstCount = options.quick ? 10_000 : 20_000
  add(
    'burst',
    `${burstCount.toLocaleString('en-US')} concurrent single publishes (raw: batches of 1,000) → consume → ack, 100 B, concurrency ${e2eConcurrency}`,
    { kind: 'burst', size: 100, count: burstCount, batch: 1000, concurrency: e2eConcurrency },
    burstCount,
    60_000,
  )
  add(
    'latency.rate1000',
    'e2e latency 100 B at 1,000 msg/s offered, concurrency 16',
    { kind: 'rate', size: 100, perSecond: 1000 },
    Number.MAX_SAFE_INTEGER,
    // 4,000 samples per repetition at 1,000 msg/s: p99.9 rests on the 4 slowest.
    options.quick ? 2500 : 4000,
    warmupMs,
  )
  add(
    'latency.saturation',
    `e2e at saturation, 100 B, window ${s.window} (batches of ${s.windowBatch}), concurrency 16`,
    { kind: 'saturation', size: 100, window: s.window, batch: s.windowBatch },
    Number.MAX_SAFE_INTEGER,
    latencyMs,
    warmupMs,
  )
  // Request–reply round trips of 100 B: one at a time (latency), then 16 outstanding (throughput).
  for (const [inFlight, count] of [
    [1, 2000],
    [16, 5000],
  ] as const) {
    add(
      `request-reply.c${inFlight}`,
      `request–reply round trip, 100 B, ${inFlight === 1 ? 'one at a time' : `${inFlight} in flight`}`,
      { kind: 'request', size: 100, inFlight },
      Math.round(count * scale),
      options.quick ? 15_000 : 30_000,
      0,
      rawRequestReply[transport] !== undefined,
    )
  }
  if (transport === 'memory' || transport === 'kafka' || transport === 'rabbitmq') {
    addOtelCases(cases, transport, s, reps, options.quick ? 2000 : transport === 'memory' ? 2500 : 5000)
  }
  add(
    'soak',
    `RSS soak at saturation, ${options.quick ? 10 : 60} s`,
    { kind: 'soak', size: 100, window: s.window, batch: s.windowBatch },
    Number.MAX_SAFE_INTEGER,
    options.quick ? 10_000 : 60_000,
    options.quick ? 2000 : 5000,
    false,
  )
  return cases
}

/**
 * The telemetry overhead cases (memory, Kafka, RabbitMQ): publish awaited and batched, and publish
 * → handle → ack, each with `@switchyard/otel` on (every trace sampled, then 1% of traces) against off.
 */
function addOtelCases(
  cases: CaseSpec[],
  transport: 'memory' | 'kafka' | 'rabbitmq',
  s: TransportSettings,
  reps: number,
  e2eMs: number,
): void {
  const scenarios: [string, string, Scenario, number, number, number][] = [
    [
      'publish.awaited',
      'publish 100 B, awaited one at a time',
      { kind: 'publish', size: 100, batch: 1 },
      s.publishCount,
      s.publishMs,
      0,
    ],
    [
      'publish.batched',
      `publish 100 B, batches of ${s.batch}`,
      { kind: 'publish', size: 100, batch: s.batch },
      s.publishCount,
      s.publishMs,
      0,
    ],
    [
      'handle',
      `publish → handle → ack, 100 B, batches of ${s.windowBatch}, window ${s.window}, concurrency 1`,
      { kind: 'e2e', size: 100, window: s.window, batch: s.windowBatch, concurrency: 1 },
      Number.MAX_SAFE_INTEGER,
      e2eMs,
      1000,
    ],
  ]
  for (const variant of ['otel', 'otel-sampled'] as const) {
    const sampled = variant === 'otel-sampled'
    for (const [id, label, scenario, maxCount, maxMs, warmupMs] of scenarios) {
      cases.push({
        id: `${transport}.${sampled ? 'otel.sampled' : 'otel'}.${id}`,
        label: `telemetry on (${sampled ? '1% of traces' : 'every trace'}) vs off: ${label}`,
        transport,
        scenario,
        reps,
        maxCount,
        maxMs,
        warmupMs,
        paired: true,
        variant,
      })
    }
  }
}
