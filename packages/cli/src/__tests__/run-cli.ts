/**
 * Runs the real, built `switchyard` binary (`dist/bin.js`) as a subprocess, the way an operator
 * does. `npm test` builds before testing; run `npx turbo run build --filter=@switchyard/cli` first
 * when running this file alone.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { waitFor } from '@switchyard/contract'

export const bin = fileURLToPath(new URL('../../dist/bin.js', import.meta.url))

if (!existsSync(bin)) {
  throw new Error(`${bin} is missing: build first (npx turbo run build --filter=@switchyard/cli)`)
}

/** A clean environment: no colour, nothing inherited that names a transport or etcd. */
export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1' }
  return { ...env, ...extra }
}

export interface CliResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs `switchyard ...args` to completion. */
export function runCli(args: readonly string[], env: NodeJS.ProcessEnv, input?: string): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [bin, ...args],
      { env, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0
        resolve({ code, stdout, stderr })
      },
    )
    if (input !== undefined) child.stdin?.end(input)
    else child.stdin?.end()
  })
}

/** A running `switchyard` (tail, watch): its output so far and its exit. */
export interface CliProcess {
  readonly child: ChildProcess
  stdout(): string
  stderr(): string
  /** Resolves with the exit code. */
  readonly exited: Promise<number>
  /** Waits until stderr (or stdout) contains `text`. */
  waitForOutput(text: string, stream?: 'stdout' | 'stderr', timeoutMs?: number): Promise<void>
}

export function spawnCli(args: readonly string[], env: NodeJS.ProcessEnv): CliProcess {
  const child = spawn(process.execPath, [bin, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString()
  })
  child.stderr?.on('data', (chunk: Buffer) => {
    err += chunk.toString()
  })
  const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)))
  let done = false
  exited.then(() => {
    done = true
  })
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitForOutput: (text, stream = 'stderr', timeoutMs = 30_000) =>
      waitFor(
        () => {
          const seen = stream === 'stderr' ? err : out
          if (seen.includes(text)) return true
          if (done)
            throw new Error(`switchyard exited before printing ${JSON.stringify(text)}:\n${out}\n${err}`)
          return false
        },
        { timeoutMs, description: () => `${JSON.stringify(text)} on ${stream}; got:\n${out}\n${err}` },
      ),
  }
}

/** Parses each non-empty line of `text` as JSON. */
export function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
}
