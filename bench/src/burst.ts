/**
 * The burst case: `count` messages published, consumed by one group and acknowledged, timed from
 * the first publish call to the last consumer callback (whose ack is sent right after it).
 *
 * The Switchyard side publishes the way applications write it — one `publish` per message, all
 * awaited together (`Promise.all`) — so the publish coalescing of the core does the batching. The
 * raw side publishes what a hand-tuned client does: batches of `batch` (kafkajs `send`, an amqplib
 * confirm window), each awaited before the next. Both consume with the same consumer as the other
 * cases. This module measures one repetition; the case and its numbers are in `plan.ts`.
 */
import { performance } from 'node:perf_hooks'
import type { BenchClient } from './client.js'
import type { RunResult } from './scenarios.js'

export async function burstRun(
  client: BenchClient,
  topic: string,
  group: string,
  size: number,
  count: number,
  batch: number,
  concurrency: number,
  maxMs: number,
): Promise<RunResult> {
  let received = 0
  let last = 0
  let finish: () => void = () => undefined
  const finished = new Promise<void>((resolve) => {
    finish = resolve
  })
  const handle = await client.consume(topic, group, concurrency, () => {
    last = performance.now()
    if (++received === count) finish()
  })
  const payload = new Uint8Array(size)
  let errors = 0
  const failed = (error: unknown): void => {
    if (errors++ === 0) {
      process.stderr.write(`publish failed: ${error instanceof Error ? error.message : String(error)}\n`)
    }
  }
  let timer: NodeJS.Timeout | undefined
  const timedOut = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(true), maxMs)
  })
  const start = performance.now()
  if (client.side === 'switchyard') {
    const calls = new Array<Promise<void>>(count)
    for (let i = 0; i < count; i++) calls[i] = client.publishOne(topic, payload).catch(failed)
    await Promise.all(calls)
  } else {
    for (let sent = 0; sent < count; sent += batch) {
      const n = Math.min(batch, count - sent)
      await client.publishBatch(topic, new Array<Uint8Array>(n).fill(payload)).catch(failed)
    }
  }
  const late = await Promise.race([finished.then(() => false), timedOut])
  clearTimeout(timer)
  await handle.stop()
  const elapsedMs = last - start
  return {
    rate: received > 0 ? (received * 1000) / elapsedMs : 0,
    count: received,
    elapsedMs,
    errors: errors + (late ? 1 : 0),
  }
}
