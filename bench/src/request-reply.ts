/**
 * Request–reply round trips, one case and side per worker process (`worker.ts` hands the
 * `request` cases here): a responder that echoes the payload, a caller on a second connection
 * to the same broker, then requests of `size` bytes one at a time or with `inFlight` of them
 * outstanding, each timed from the call to its reply (HDR histogram) — the same loop for the
 * Switchyard side (`Bus.request` → `Bus.reply`) and the raw client's own request–reply.
 *
 * Every repetition stops at its request count or its time bound; a request that fails or times
 * out is counted as an error, not as a latency. The clients are in `request-reply-clients.ts` and
 * `request-reply-raw.ts`; which cases exist is `plan.ts`.
 */
import { performance } from 'node:perf_hooks'
import type { Side } from './client.js'
import { latencyHistogram, summarise } from './latency.js'
import type { CaseSpec } from './plan.js'
import type { RunResult } from './scenarios.js'
import type { WorkerResult } from './worker-result.js'

/** Longest wait for one reply, both sides. */
export const requestTimeoutMs = 20_000

/** One side's request–reply: a responder that echoes, and a caller. */
export interface RequestReplyClient {
  readonly side: Side
  /** Declares the request topic, starts the responder and resolves once it is attached. */
  start(topic: string): Promise<void>
  /** Sends one request and resolves with the reply's payload (rejects after {@link requestTimeoutMs}). */
  request(payload: Uint8Array): Promise<Uint8Array>
  /** Stops the responder, deletes what `start` declared (best effort) and closes the connections. */
  close(): Promise<void>
}

/** Up to `count` requests within `maxMs`, `inFlight` outstanding at a time. */
export async function requestRun(
  client: RequestReplyClient,
  size: number,
  inFlight: number,
  count: number,
  maxMs: number,
): Promise<RunResult> {
  const histogram = latencyHistogram()
  const payload = new Uint8Array(size)
  const started = performance.now()
  const end = started + maxMs
  let sent = 0
  let errors = 0
  const caller = async (): Promise<void> => {
    while (sent < count && performance.now() < end) {
      sent++
      const t0 = performance.now()
      try {
        const reply = await client.request(payload)
        if (reply.byteLength !== size) throw new Error(`a reply of ${reply.byteLength} bytes`)
        histogram.recordValue(Math.max(1, Math.round((performance.now() - t0) * 1e6)))
      } catch {
        errors++
      }
    }
  }
  await Promise.all(Array.from({ length: inFlight }, caller))
  const elapsedMs = performance.now() - started
  const answered = histogram.totalCount
  return {
    rate: (answered * 1000) / elapsedMs,
    count: answered,
    elapsedMs,
    latency: summarise(histogram),
    errors,
  }
}

/**
 * Runs one `request` case on one side: a warm-up as long as one repetition (shorter ones left the
 * first repetition well below the others: JIT, the Kafka reply topic's first fetches), then the
 * repetitions.
 */
export async function requestReplyCase(spec: CaseSpec, side: Side): Promise<WorkerResult> {
  const sc = spec.scenario
  if (sc.kind !== 'request') throw new Error(`${spec.id} is not a request–reply case`)
  const { requestReplyClient } = await import('./request-reply-clients.js')
  const client = await requestReplyClient(spec.transport, side)
  try {
    await client.start(`bench.rr.${side}.${Date.now().toString(36)}`)
    const warmup = await requestRun(client, sc.size, sc.inFlight, spec.maxCount, spec.maxMs)
    const reps: RunResult[] = []
    for (let i = 0; i < spec.reps; i++) {
      reps.push(await requestRun(client, sc.size, sc.inFlight, spec.maxCount, spec.maxMs))
    }
    return { id: spec.id, side, warmup, reps }
  } finally {
    await client.close()
  }
}
