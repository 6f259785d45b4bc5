/**
 * Latency bookkeeping: payloads that carry their send time, and HDR histograms for percentiles.
 *
 * The send time is `performance.now()` (ms, sub-microsecond resolution) written as a float64 (host
 * byte order) at the start of the payload; producer and consumer run in the same process, so one clock serves both.
 * Percentiles come from hdr-histogram-js (see bench/README.md for why not hand-written code).
 */
import { performance } from 'node:perf_hooks'
import hdr from 'hdr-histogram-js'

export type Histogram = ReturnType<typeof hdr.build>

/** A histogram of latencies in nanoseconds, 1 ns to 120 s, three significant digits. */
export function latencyHistogram(): Histogram {
  return hdr.build({
    bitBucketSize: 32,
    lowestDiscernibleValue: 1,
    highestTrackableValue: 120_000_000_000,
    numberOfSignificantValueDigits: 3,
    autoResize: true,
  })
}

// One scratch float64 and its bytes: stamping copies 8 bytes instead of creating a DataView per message.
const scratch = new Float64Array(1)
const scratchBytes = new Uint8Array(scratch.buffer)

/** A payload of `size` bytes (at least 8) stamped with the current time. */
export function stampedPayload(size: number): Uint8Array {
  const bytes = new Uint8Array(Math.max(size, 8))
  scratch[0] = performance.now()
  bytes.set(scratchBytes)
  return bytes
}

/** The send time written by {@link stampedPayload}, in ms on `performance.now()`'s clock. */
export function sentAt(payload: Uint8Array): number {
  for (let i = 0; i < 8; i++) scratchBytes[i] = payload[i] as number
  return scratch[0] as number
}

/** Percentiles of one run, in microseconds. */
export interface LatencySummary {
  readonly count: number
  readonly p50: number
  readonly p99: number
  readonly p999: number
  readonly max: number
}

export function summarise(histogram: Histogram): LatencySummary {
  const us = (ns: number): number => ns / 1000
  return {
    count: histogram.totalCount,
    p50: us(histogram.getValueAtPercentile(50)),
    p99: us(histogram.getValueAtPercentile(99)),
    p999: us(histogram.getValueAtPercentile(99.9)),
    max: us(histogram.maxValue),
  }
}
