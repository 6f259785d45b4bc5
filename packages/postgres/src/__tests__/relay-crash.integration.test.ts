/**
 * Kill -9 of an outbox relay in the middle of 10,000 rows, on each broker: the relay runs in its
 * own OS process (`fixtures/relay-worker.mjs`, importing the built packages), the test kills it
 * with SIGKILL once it has published some batches, and a second relay in this process finishes the
 * table. Every committed row is consumed; duplicates are counted, reported and at most one batch.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ensureBuilt, uniqueName, waitFor } from '@switchyard/contract'
import { Bus } from '@switchyard/core'
import { beforeAll, describe, expect, it } from 'vitest'
import { PostgresOutbox } from '../index.js'
import { database, inTransaction, postgresFixtures, targets } from './postgres-fixtures.js'

const here = dirname(fileURLToPath(import.meta.url))
const packageDir = join(here, '..', '..')
const worker = join(here, 'fixtures', 'relay-worker.mjs')

beforeAll(() => ensureBuilt(packageDir))

describe.each(targets.filter((t) => t.shared))('outbox relay killed with SIGKILL on $name', (target) => {
  const f = postgresFixtures()

  it('loses no committed row and publishes at most one batch twice', async () => {
    const topic = uniqueName('outbox-crash')
    const group = uniqueName('g')
    const producer = await f.transport(target, [topic])
    const consumer = await f.transport(target, [])
    await producer.provision(topic, { groups: [group] })
    const ids: string[] = []
    const bus = new Bus(consumer)
    f.cleanups.push(() => bus.close({ drain: false }))
    const sub = bus.handle<number>(topic, { group, concurrency: 16 }, (m) => {
      ids.push(m.id)
    })
    await sub.ready

    const pool = f.pool()
    const schema = await f.schema()
    const outbox = new PostgresOutbox({ schema })
    await outbox.migrate(pool)
    const total = 10_000
    const batchSize = 200
    for (let tx = 0; tx < 100; tx += 1) {
      await inTransaction(pool, async (client) => {
        await outbox.publishBatch(
          client,
          Array.from({ length: 100 }, (_, i) => ({ topic, key: `k${i % 16}`, payload: tx * 100 + i })),
        )
      })
    }

    const child: ChildProcess = spawn(
      process.execPath,
      [worker, JSON.stringify(database), JSON.stringify(target.config), schema, String(batchSize)],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    )
    f.cleanups.push(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    })
    let childPublished = 0
    child.stdout?.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.startsWith('{"type":"published"')) childPublished = (JSON.parse(line) as { n: number }).n
      }
    })
    // Kill it mid-batch, long before the end: once it has marked 2,000 rows sent and the consumer
    // has already received rows it has not reported marked (a batch confirmed by the broker whose
    // UPDATE has not run, or not yet been reported).
    await waitFor(() => childPublished >= 2_000 && new Set(ids).size > childPublished, {
      timeoutMs: 60_000,
      intervalMs: 1,
      description: () =>
        `the relay process mid-batch after 2,000 rows, saw ${childPublished} marked, ${ids.length} consumed`,
    })
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGKILL')
    await exited
    const pendingAfterKill = (await outbox.pending(pool)).pending
    expect(pendingAfterKill).toBeGreaterThan(0)

    const relayBus = new Bus(producer)
    const relay = outbox.relay({
      pool: f.pool(2),
      bus: relayBus,
      batchSize,
      pollIntervalMs: 50,
      lockRetryMs: 50,
    })
    f.cleanups.push(async () => {
      await relay.stop()
      await relayBus.close({ drain: false })
    })
    const distinct = () => new Set(ids).size
    await waitFor(() => distinct() >= total, {
      timeoutMs: 120_000,
      description: () => `${total} distinct rows consumed, saw ${distinct()}`,
    })
    await waitFor(async () => (await outbox.pending(pool)).pending === 0, { timeoutMs: 10_000 })
    // What the second relay republished of the killed relay's last batch arrives with it or just after.
    const duplicates = ids.length - total
    expect(distinct()).toBe(total)
    expect(duplicates).toBeGreaterThanOrEqual(0)
    expect(duplicates).toBeLessThanOrEqual(batchSize)
    expect(relay.status().published).toBe(pendingAfterKill)
    console.info(
      `[outbox kill -9 on ${target.name}] ${total} rows; killed after ${childPublished} marked sent, ${pendingAfterKill} left; ` +
        `${distinct()} distinct consumed, ${duplicates} duplicates (batch ${batchSize})`,
    )
  }, 240_000)
})
