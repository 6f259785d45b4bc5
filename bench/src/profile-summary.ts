/**
 * `node bench/dist/profile-summary.js <file.cpuprofile | folder> [top]`: the functions with the most
 * self time in a V8 CPU profile (as written by `node --cpu-prof`, e.g. `npm run bench -- --profile`,
 * which leaves one folder per case and side), with their file and line, so a slow benchmark can be
 * explained without opening DevTools. Given a folder, it reads the largest profile in it (the main
 * thread's).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'

interface ProfileNode {
  readonly id: number
  readonly callFrame: {
    readonly functionName: string
    readonly url: string
    readonly lineNumber: number
  }
  readonly children?: readonly number[]
}

interface Profile {
  readonly nodes: readonly ProfileNode[]
  readonly samples: readonly number[]
  readonly timeDeltas: readonly number[]
}

function summarise(path: string, top: number): string {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as Profile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const self = new Map<string, number>()
  let total = 0
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i] as number)
    const dt = profile.timeDeltas[i] ?? 0
    if (node === undefined) continue
    total += dt
    const frame = node.callFrame
    const where = frame.url.replace(/^file:\/\//, '').replace(/^.*\/node_modules\//, '')
    const short = where.replace(/^.*\/(packages|bench)\//, '$1/')
    const key = `${frame.functionName || '(anonymous)'}  ${short ? `${short}:${frame.lineNumber + 1}` : ''}`
    self.set(key, (self.get(key) ?? 0) + dt)
  }
  const rows = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, top)
  const lines = [`${path}: ${(total / 1000).toFixed(0)} ms sampled`]
  for (const [key, us] of rows) {
    lines.push(
      `${((us / total) * 100).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${key}`,
    )
  }
  return lines.join('\n')
}

function largestProfile(path: string): string {
  if (!statSync(path).isDirectory()) return path
  const files = readdirSync(path)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => join(path, f))
    .sort((a, b) => statSync(b).size - statSync(a).size)
  if (files[0] === undefined) throw new Error(`no .cpuprofile in ${path}`)
  return files[0]
}

const [path, top] = process.argv.slice(2)
if (path === undefined) {
  process.stderr.write('usage: node bench/dist/profile-summary.js <file.cpuprofile | folder> [top=25]\n')
  process.exit(2)
}
process.stdout.write(`${summarise(largestProfile(path), Number(top ?? 25))}\n`)
