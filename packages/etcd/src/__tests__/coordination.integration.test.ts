/**
 * Locks and leader election across separate OS processes on a real etcd: two processes increment
 * a shared counter under the lock (no lost update proves mutual exclusion), and the leader's
 * process is killed with SIGKILL (its lease expires, the other process takes over). The workers
 * import the built package, as applications do.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { etcdConnection } from '@switchyard/brokers'
import { ensureBuilt, uniqueName, waitFor } from '@switchyard/contract'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { EtcdConfigStore } from '../etcd-config-store.js'

const here = dirname(fileURLToPath(import.meta.url))
const packageDir = join(here, '..', '..')
const worker = join(here, 'fixtures', 'coordination-worker.mjs')
const endpoint = etcdConnection.endpoints[0] ?? 'http://127.0.0.1:2379'

interface Worker {
  readonly child: ChildProcess
  readonly lines: Record<string, unknown>[]
  readonly exited: Promise<number | null>
}

const children: ChildProcess[] = []

function start(args: string[]): Worker {
  const child = spawn(process.execPath, [worker, ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
  children.push(child)
  const lines: Record<string, unknown>[] = []
  let buffer = ''
  child.stdout?.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('utf8')
    for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
      lines.push(JSON.parse(buffer.slice(0, i)) as Record<string, unknown>)
      buffer = buffer.slice(i + 1)
    }
  })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return { child, lines, exited }
}

describe('etcd coordination across processes', () => {
  beforeAll(() => ensureBuilt(packageDir), 120_000)
  afterEach(() => {
    for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL')
  })

  it('two processes never hold the lock at once: a shared counter loses no update', async () => {
    const namespace = `${uniqueName('coord-lock')}/`
    const store = new EtcdConfigStore({ endpoints: [endpoint], namespace })
    try {
      await store.put('counter', 0)
      const iterations = 25
      const workers = ['p1', 'p2'].map((id) => start(['lock', endpoint, namespace, id, String(iterations)]))
      const codes = await Promise.all(workers.map((w) => w.exited))
      expect(codes).toEqual([0, 0])
      expect((await store.get('counter'))?.value).toBe(2 * iterations)
      // Both really took part: each wrote audited changes under its own name.
      const authors = new Set((await store.history('counter')).map((h) => h.audit?.author))
      expect([...authors].filter((a) => a === 'p1' || a === 'p2').sort()).toEqual(['p1', 'p2'])
    } finally {
      await store.close()
    }
  })

  it('a killed leader loses leadership when its lease expires; the other process takes over', async () => {
    const namespace = `${uniqueName('coord-leader')}/`
    const ttlSeconds = 2
    const a = start(['leader', endpoint, namespace, 'a', String(ttlSeconds)])
    await waitFor(() => a.lines.some((l) => l.type === 'leading'), {
      timeoutMs: 20_000,
      description: 'a leading',
    })
    const b = start(['leader', endpoint, namespace, 'b', String(ttlSeconds)])
    await waitFor(() => b.lines.some((l) => l.type === 'state' && l.leader === 'a' && l.isLeader === false), {
      timeoutMs: 20_000,
      description: 'b seeing a as leader',
    })
    expect(b.lines.some((l) => l.type === 'leading')).toBe(false)
    const killedAt = Date.now()
    a.child.kill('SIGKILL')
    await a.exited
    await waitFor(() => b.lines.some((l) => l.type === 'leading'), {
      timeoutMs: 30_000,
      description: () => `b leading, got ${JSON.stringify(b.lines)}`,
    })
    const takeoverMs = Date.now() - killedAt
    console.info(`leader failover after SIGKILL: ${takeoverMs} ms (lease TTL ${ttlSeconds} s)`)
    await waitFor(() => b.lines.some((l) => l.type === 'state' && l.leader === 'b' && l.isLeader === true), {
      timeoutMs: 5_000,
      description: 'b seeing itself lead',
    })
    b.child.kill('SIGTERM')
    expect(await b.exited).not.toBe(0)
  })

  it('releases the lease when the process is terminated (SIGTERM), long before the TTL', async () => {
    const namespace = `${uniqueName('coord-exit')}/`
    const ttlSeconds = 60
    const leader = start(['leader', endpoint, namespace, 'x', String(ttlSeconds)])
    await waitFor(() => leader.lines.some((l) => l.type === 'leading'), {
      timeoutMs: 20_000,
      description: 'x leading',
    })
    const observer = new EtcdConfigStore({ endpoints: [endpoint], namespace })
    try {
      const seen: (string | undefined)[] = []
      const election = observer.election('leader')
      const sub = election.leader$.subscribe((s) => seen.push(s.leader))
      await waitFor(() => seen.at(-1) === 'x', {
        timeoutMs: 10_000,
        description: 'the observer seeing x lead',
      })
      const stoppedAt = Date.now()
      leader.child.kill('SIGTERM')
      await leader.exited
      await waitFor(() => seen.at(-1) === undefined, {
        timeoutMs: 10_000,
        description: 'leadership released',
      })
      expect(Date.now() - stoppedAt).toBeLessThan(ttlSeconds * 1000)
      sub.unsubscribe()
    } finally {
      await observer.close()
    }
  })
})
