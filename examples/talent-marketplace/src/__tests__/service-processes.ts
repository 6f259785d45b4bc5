/**
 * Helpers of the broker tests that run the marketplace's services as processes from `dist/`:
 * build once, spawn a service keeping the tail of its output, read the JSON-lines outcome files.
 * Not a test file itself.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { closeSync, existsSync, openSync, readSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { StampedOutcome } from '../outcome-log.js'

const exampleDir = fileURLToPath(new URL('../../', import.meta.url))
const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url))

/** Builds this example and everything it depends on (cached by turbo): the services run from `dist/`. */
export function buildExample(): void {
  // The services run from dist/, so build this package and everything it depends on (cached by turbo).
  execFileSync(
    'npx',
    [
      'turbo',
      'run',
      'build',
      '--output-logs=errors-only',
      '--filter=@switchyard-examples/talent-marketplace...',
    ],
    { cwd: repoRoot, stdio: 'inherit', timeout: 180_000 },
  )
}

/** A running service process and the last 200 chunks of its output. */
export interface ServiceProcess {
  readonly child: ChildProcess
  readonly output: string[]
}

/** Starts `node dist/<service>.js` with `env`. */
export function spawnService(service: string, env: NodeJS.ProcessEnv): ServiceProcess {
  const child = spawn(process.execPath, [join(exampleDir, 'dist', `${service}.js`)], {
    cwd: exampleDir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const output: string[] = []
  const keep = (chunk: Buffer) => {
    output.push(chunk.toString())
    if (output.length > 200) output.shift()
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  return { child, output }
}

/** Reads the JSON lines appended to a file since the last call. */
export class OutcomeFile {
  readonly outcomes: StampedOutcome[] = []
  #offset = 0
  #partial = ''
  constructor(readonly path: string) {}
  poll(): void {
    if (!existsSync(this.path)) return
    const fd = openSync(this.path, 'r')
    try {
      const buffer = Buffer.alloc(1 << 20)
      for (;;) {
        const n = readSync(fd, buffer, 0, buffer.length, this.#offset)
        if (n === 0) break
        this.#offset += n
        const lines = (this.#partial + buffer.subarray(0, n).toString('utf8')).split('\n')
        this.#partial = lines.pop() ?? ''
        for (const line of lines) if (line) this.outcomes.push(JSON.parse(line) as StampedOutcome)
      }
    } finally {
      closeSync(fd)
    }
  }
}

/** Sends SIGTERM to every process and resolves with their exit codes (a service drains, then exits 0). */
export function stopGracefully(processes: Iterable<ServiceProcess>): Promise<(number | null)[]> {
  const all = [...processes]
  const exits = all.map(({ child }) =>
    child.exitCode !== null
      ? Promise.resolve(child.exitCode)
      : new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code))),
  )
  for (const { child } of all) child.kill('SIGTERM')
  return Promise.all(exits)
}
