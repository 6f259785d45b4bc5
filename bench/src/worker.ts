/**
 * One benchmark case on one side, in its own Node process: `node worker.js '<CaseSpec json>' <side>`.
 *
 * Runs one warm-up repetition (discarded), then `reps` measured ones, and prints one line
 * `BENCH_RESULT <json>` on stdout. A fresh process per case and side keeps the JIT, the heap and
 * the driver's sockets of one side from influencing the other. It does not decide what to run
 * (see `plan.ts`) or aggregate (see `main.ts`).
 */
import { randomBytes } from 'node:crypto'
import { register } from 'node:module'
import { burstRun } from './burst.js'
import type { BenchClient, Side } from './client.js'
import type { CaseSpec, TransportName } from './plan.js'
import { consumeRun, latencyRun, prefill, publishRun, type RunResult } from './scenarios.js'
import { resultMarker, type WorkerResult } from './worker-result.js'

async function clientFor(
  transport: TransportName,
  side: Side,
  variant: CaseSpec['variant'],
): Promise<BenchClient> {
  if (variant !== undefined)
    return (await import('./otel-clients.js')).otelClient(
      transport,
      side,
      variant === 'otel-sampled' ? 0.01 : 1,
    )
  switch (transport) {
    case 'memory':
      return (await import('./memory-clients.js')).memoryClient(side)
    case 'kafka':
      return (await import('./kafka-clients.js')).kafkaClient(side)
    case 'rabbitmq':
      return (await import('./rabbitmq-clients.js')).rabbitmqClient(side)
    case 'redis':
      return (await import('./redis-clients.js')).redisClient(side)
    case 'nats':
      return (await import('./nats-clients.js')).natsClient(side)
  }
}

const unique = (): string => randomBytes(4).toString('hex')

async function runOnce(
  client: BenchClient,
  spec: CaseSpec,
  warmup: boolean,
  state: Shared,
): Promise<RunResult> {
  const sc = spec.scenario
  const fraction = warmup ? 0.3 : 1
  switch (sc.kind) {
    case 'publish': {
      const topic = state.topic
      return publishRun(
        client,
        topic,
        sc.size,
        sc.batch,
        Math.round(spec.maxCount * fraction),
        spec.maxMs * fraction,
      )
    }
    case 'consume': {
      const count = Math.round(spec.maxCount * (warmup ? 0.2 : 1))
      const group = `g-${unique()}`
      const topic = state.topic
      if (spec.transport === 'kafka') {
        // One prefilled log, read from the beginning by a new group each repetition.
        if (!state.filled) {
          await client.prepare(topic, group)
          await prefill(client, topic, sc.size, spec.maxCount)
          state.filled = true
        }
      } else {
        await client.prepare(topic, group)
        await prefill(client, topic, sc.size, count)
      }
      const result = await consumeRun(client, topic, group, sc.concurrency, count, spec.maxMs)
      if (spec.transport !== 'kafka') await client.cleanup(topic, group)
      return result
    }
    case 'burst': {
      const topic = `bench.burst.${unique()}`
      const group = `g-${unique()}`
      await client.prepare(topic, group)
      const count = warmup ? Math.min(sc.count, 5000) : sc.count
      const result = await burstRun(
        client,
        topic,
        group,
        sc.size,
        count,
        sc.batch,
        sc.concurrency,
        spec.maxMs,
      )
      await client.cleanup(topic, group)
      return result
    }
    case 'request':
      throw new Error(`${spec.id}: request–reply cases run in request-reply.ts`)
    case 'rate':
    case 'saturation':
    case 'e2e':
    case 'soak': {
      const topic = `bench.${sc.kind}.${unique()}`
      const group = `g-${unique()}`
      await client.prepare(topic, group)
      const offer =
        sc.kind === 'rate'
          ? ({ kind: 'rate', perSecond: sc.perSecond } as const)
          : ({ kind: 'window', window: sc.window, batch: sc.batch } as const)
      const warmupMs = warmup ? Math.min(spec.warmupMs, 1000) : spec.warmupMs
      const measureMs = warmup ? Math.min(spec.maxMs, 1500) : spec.maxMs
      const result = await latencyRun(client, topic, group, sc.size, offer, warmupMs, measureMs, {
        stamp: sc.kind !== 'e2e',
        concurrency: sc.kind === 'e2e' ? sc.concurrency : 16,
        sampleRss: sc.kind === 'soak' && !warmup,
      })
      await client.cleanup(topic, group)
      return result
    }
  }
}

interface Shared {
  readonly topic: string
  filled: boolean
}

async function main(): Promise<void> {
  register('./esm-hooks.js', import.meta.url)
  const spec = JSON.parse(process.argv[2] ?? '') as CaseSpec
  const side = process.argv[3] as Side
  if (spec.scenario.kind === 'request') {
    // Its own clients (a responder and a caller), not a BenchClient; imported after the hooks.
    const { requestReplyCase } = await import('./request-reply.js')
    process.stdout.write(`${resultMarker}${JSON.stringify(await requestReplyCase(spec, side))}\n`)
    return
  }
  const client = await clientFor(spec.transport, side, spec.variant)
  const topic = `bench.${spec.scenario.kind}.${side}.${unique()}`
  const state: Shared = { topic, filled: false }
  const publishGroup = `g-${unique()}`
  const needsTopic = spec.scenario.kind === 'publish' || spec.scenario.kind === 'consume'
  // Memory: publish to a topic nobody reads (no queue would be drained); brokers: to a durable queue.
  if (spec.scenario.kind === 'publish' && spec.transport !== 'memory')
    await client.prepare(topic, publishGroup)
  try {
    const warmup = await runOnce(client, spec, true, state)
    const reps: RunResult[] = []
    for (let i = 0; i < spec.reps; i++) reps.push(await runOnce(client, spec, false, state))
    const result: WorkerResult = { id: spec.id, side, warmup, reps }
    process.stdout.write(`${resultMarker}${JSON.stringify(result)}\n`)
  } finally {
    if (needsTopic) await client.cleanup(topic, publishGroup).catch(() => undefined)
    await client.close().catch(() => undefined)
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error))
    process.exit(1)
  },
)
