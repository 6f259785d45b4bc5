/**
 * The measurements, written once against `BenchClient` so the Switchyard and the raw side of a pair
 * run exactly the same code: publish throughput (awaited or batched), consume throughput with ack,
 * end-to-end latency at a fixed offered rate or at saturation (a closed loop with a bounded window),
 * and a soak that samples the process's RSS.
 *
 * Every run is bounded in count and in time. This module measures; it does not choose parameters
 * (see `plan.ts`) or start processes (see `worker.ts`).
 */
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import type { BenchClient } from './client.js'
import { type LatencySummary, latencyHistogram, sentAt, stampedPayload, summarise } from './latency.js'

/** What one measured repetition produced. */
export interface RunResult {
  /** Messages per second over the measured interval. */
  readonly rate: number
  readonly count: number
  readonly elapsedMs: number
  readonly latency?: LatencySummary
  readonly rss?: RssSummary
  /** Publish calls that rejected, consumers that did not finish in time, …; 0 in a clean run. */
  readonly errors: number
}

export interface RssSummary {
  /** RSS once warm (first sample after the warm-up), MiB. */
  readonly warmMiB: number
  readonly maxMiB: number
  readonly endMiB: number
  /** Least-squares slope of RSS over the second half of the run, MiB per minute. */
  readonly slopeMiBPerMin: number
  readonly samples: number
  /** Live heap right after a forced full GC, at the first and the last 10-second mark (MiB). */
  readonly heapAfterGcFirstMiB?: number
  readonly heapAfterGcLastMiB?: number
}

/** Yields to the event loop at least every `everyMs`, so timers (sampling, fetches) still run. */
class Yielder {
  #last = performance.now()
  constructor(readonly everyMs = 5) {}
  async maybe(): Promise<void> {
    const now = performance.now()
    if (now - this.#last < this.everyMs) return
    this.#last = now
    await new Promise<void>((resolve) => setImmediate(resolve))
  }
}

/** Publishes `size`-byte messages one at a time (awaited) or `batch` at a time until `maxCount` or `maxMs`. */
export async function publishRun(
  client: BenchClient,
  topic: string,
  size: number,
  batch: number,
  maxCount: number,
  maxMs: number,
): Promise<RunResult> {
  const payload = new Uint8Array(size)
  const payloads = new Array<Uint8Array>(batch).fill(payload)
  const yielder = new Yielder()
  const start = performance.now()
  const end = start + maxMs
  let count = 0
  while (count < maxCount && performance.now() < end) {
    if (batch === 1) {
      await client.publishOne(topic, payload)
      count++
    } else {
      await client.publishBatch(topic, payloads)
      count += batch
    }
    await yielder.maybe()
  }
  const elapsedMs = performance.now() - start
  return { rate: (count * 1000) / elapsedMs, count, elapsedMs, errors: 0 }
}

/** Fills the group's queue / the topic with `count` messages of `size` bytes (not measured). */
export async function prefill(
  client: BenchClient,
  topic: string,
  size: number,
  count: number,
): Promise<void> {
  const batch = 1000
  const payload = new Uint8Array(size)
  const yielder = new Yielder()
  for (let sent = 0; sent < count; sent += batch) {
    await client.publishBatch(topic, new Array<Uint8Array>(Math.min(batch, count - sent)).fill(payload))
    await yielder.maybe()
  }
}

/**
 * Consumes `count` queued messages with ack at `concurrency`; the rate is measured from the first
 * delivery to the last, so attaching (Kafka's group join) is not counted.
 */
export async function consumeRun(
  client: BenchClient,
  topic: string,
  group: string,
  concurrency: number,
  count: number,
  maxMs: number,
): Promise<RunResult> {
  let received = 0
  let first = 0
  let last = 0
  let finish: () => void = () => undefined
  const finished = new Promise<void>((resolve) => {
    finish = resolve
  })
  const handle = await client.consume(topic, group, concurrency, () => {
    const now = performance.now()
    if (received === 0) first = now
    last = now
    if (++received === count) finish()
  })
  const timedOut = await Promise.race([finished.then(() => false), sleep(maxMs).then(() => true)])
  await handle.stop()
  const elapsedMs = last - first
  const rate = received > 1 ? ((received - 1) * 1000) / elapsedMs : 0
  return { rate, count: received, elapsedMs, errors: timedOut ? 1 : 0 }
}

/** How the latency producer offers load. */
export type Offer =
  | { readonly kind: 'rate'; readonly perSecond: number }
  | { readonly kind: 'window'; readonly window: number; readonly batch: number }

/**
 * End-to-end runs: producer and acknowledging consumer at once. `rate`: open loop, each message its
 * own publish call at a fixed offered rate. `window`: closed loop at saturation, batches of `batch`
 * while fewer than `window` messages are unconsumed. With `stamp`, the latency (publish call →
 * consumer callback) of messages sent during `measureMs` after `warmupMs` is recorded; without it
 * one payload is reused and only deliveries in that interval are counted (pure throughput, no
 * harness cost per message). With `sampleRss`, RSS is sampled every second.
 */
export async function latencyRun(
  client: BenchClient,
  topic: string,
  group: string,
  size: number,
  offer: Offer,
  warmupMs: number,
  measureMs: number,
  options: { readonly stamp: boolean; readonly concurrency: number; readonly sampleRss: boolean },
): Promise<RunResult> {
  const { stamp, concurrency, sampleRss } = options
  const histogram = latencyHistogram()
  let recordFrom = Number.POSITIVE_INFINITY
  let recordUntil = Number.POSITIVE_INFINITY
  let sent = 0
  let received = 0
  let inWindow = 0
  let errors = 0
  let wake: (() => void) | undefined
  const batch = offer.kind === 'window' ? offer.batch : 1
  const limit = offer.kind === 'window' ? offer.window - batch : Number.POSITIVE_INFINITY

  const handle = await client.consume(topic, group, concurrency, (payload) => {
    received++
    const now = performance.now()
    if (!stamp) {
      if (now >= recordFrom && now < recordUntil) inWindow++
    } else {
      const at = sentAt(payload)
      if (at >= recordFrom && at < recordUntil) {
        inWindow++
        histogram.recordValue(Math.max(1, Math.round((now - at) * 1e6)))
      }
    }
    if (wake !== undefined && sent - received <= limit) {
      const w = wake
      wake = undefined
      w()
    }
  })

  const rss: { t: number; mib: number }[] = []
  const heap: number[] = []
  // With --expose-gc (the worker sets it for the soak), every tenth sample forces a full GC and
  // records the live heap: unlike RSS, it does not move with the collector's sawtooth.
  const gc = (globalThis as { gc?: () => void }).gc
  let ticks = 0
  const sampler = sampleRss
    ? setInterval(() => {
        const t = performance.now()
        rss.push({ t, mib: process.memoryUsage().rss / 2 ** 20 })
        if (gc !== undefined && ++ticks % 10 === 0 && t >= recordFrom) {
          gc()
          heap.push(process.memoryUsage().heapUsed / 2 ** 20)
        }
      }, 1000)
    : undefined

  const start = performance.now()
  recordFrom = start + warmupMs
  recordUntil = recordFrom + measureMs
  const failed = (error: unknown): void => {
    if (errors++ === 0) {
      process.stderr.write(`publish failed: ${error instanceof Error ? error.message : String(error)}\n`)
    }
  }
  const yielder = new Yielder()
  const unstamped = new Array<Uint8Array>(batch).fill(new Uint8Array(size))
  if (offer.kind === 'rate') {
    while (performance.now() < recordUntil) {
      const due = Math.floor(((performance.now() - start) * offer.perSecond) / 1000)
      while (sent < due) {
        sent++
        client.publishOne(topic, stampedPayload(size)).catch(failed)
      }
      await sleep(1)
    }
  } else {
    while (performance.now() < recordUntil) {
      if (sent - received > limit) {
        await new Promise<void>((resolve) => {
          wake = resolve
        })
        continue
      }
      const payloads: Uint8Array[] = stamp ? new Array(batch) : unstamped
      if (stamp) for (let i = 0; i < batch; i++) payloads[i] = stampedPayload(size)
      sent += batch
      await client.publishBatch(topic, payloads).catch(failed)
      await yielder.maybe()
    }
  }
  // Let what is in flight arrive (bounded), so the tail of the window is recorded.
  const drainUntil = performance.now() + 15_000
  while (received < sent && performance.now() < drainUntil) await sleep(5)
  if (received < sent) errors++
  if (sampler !== undefined) clearInterval(sampler)
  await handle.stop()
  return {
    rate: (inWindow * 1000) / measureMs,
    count: inWindow,
    elapsedMs: measureMs,
    ...(stamp ? { latency: summarise(histogram) } : {}),
    ...(sampleRss ? { rss: rssSummary(rss, recordFrom, heap) } : {}),
    errors,
  }
}

function rssSummary(
  samples: readonly { t: number; mib: number }[],
  warmFrom: number,
  heap: readonly number[],
): RssSummary {
  const warm = samples.filter((s) => s.t >= warmFrom)
  const second = warm.slice(Math.floor(warm.length / 2))
  let slope = 0
  if (second.length >= 2) {
    const mt = second.reduce((a, s) => a + s.t, 0) / second.length
    const mm = second.reduce((a, s) => a + s.mib, 0) / second.length
    let num = 0
    let den = 0
    for (const s of second) {
      num += (s.t - mt) * (s.mib - mm)
      den += (s.t - mt) ** 2
    }
    slope = den === 0 ? 0 : (num / den) * 60_000
  }
  return {
    warmMiB: warm[0]?.mib ?? 0,
    maxMiB: Math.max(0, ...warm.map((s) => s.mib)),
    endMiB: warm.at(-1)?.mib ?? 0,
    slopeMiBPerMin: slope,
    samples: warm.length,
    ...(heap.length > 0
      ? { heapAfterGcFirstMiB: heap[0] as number, heapAfterGcLastMiB: heap.at(-1) as number }
      : {}),
  }
}
