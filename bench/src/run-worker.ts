/**
 * Starts `worker.js` for one case and side in a fresh Node process, bounded in time, and parses
 * its `BENCH_RESULT` line. With `cpuProfileDir`, the worker runs under `node --cpu-prof`.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { Side } from './client.js'
import type { CaseSpec } from './plan.js'
import { resultMarker, type WorkerResult } from './worker-result.js'

const workerPath = fileURLToPath(new URL('./worker.js', import.meta.url))

export interface WorkerOptions {
  readonly timeoutMs: number
  readonly cpuProfileDir?: string
}

/** Resolves with the worker's result, or rejects with the reason and the tail of its stderr. */
export function runWorker(spec: CaseSpec, side: Side, options: WorkerOptions): Promise<WorkerResult> {
  // One folder per case and side: V8 writes one profile per thread (the main thread's is the largest).
  const profile = options.cpuProfileDir
    ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfileDir}/${spec.id}.${side}`]
    : []
  // The soak forces a full GC now and then to read the live heap (see scenarios.ts).
  const nodeArgs = spec.scenario.kind === 'soak' ? ['--expose-gc', ...profile] : profile
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgs, workerPath, JSON.stringify(spec), side], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
    })
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000)
    })
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
    }, options.timeoutMs)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      const line = stdout.split('\n').find((l) => l.startsWith(resultMarker))
      if (line !== undefined) {
        resolve(JSON.parse(line.slice(resultMarker.length)) as WorkerResult)
        return
      }
      const why =
        signal === 'SIGKILL' ? `timed out after ${options.timeoutMs} ms` : `exited ${code ?? signal}`
      reject(new Error(`${spec.id} (${side}) ${why}: ${stderr.trim().split('\n').slice(-6).join(' | ')}`))
    })
  })
}
