/**
 * What a worker process reports: the line marker and the shape of its result. Shared by
 * `worker.ts` (which prints it) and `run-worker.ts` (which parses it).
 */
import type { Side } from './client.js'
import type { RunResult } from './scenarios.js'

export const resultMarker = 'BENCH_RESULT '

export interface WorkerResult {
  readonly id: string
  readonly side: Side
  readonly warmup: RunResult
  readonly reps: readonly RunResult[]
}
