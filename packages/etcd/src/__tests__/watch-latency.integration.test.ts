/**
 * Measures the time from `put` to the watch observable's emission on a real etcd (1,000 puts,
 * one at a time, separate writer and watcher clients) and logs p50/p99. A measurement, not a
 * speed assertion: it asserts only that every put was emitted once and in order.
 */
import { performance } from 'node:perf_hooks'
import { etcdConnection } from '@switchyard/brokers'
import { uniqueName, waitFor } from '@switchyard/contract'
import { describe, expect, it } from 'vitest'
import { EtcdConfigStore } from '../etcd-config-store.js'

const percentile = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN

describe('etcd watch latency', () => {
  it('put → watch$ emission, 1,000 puts', async () => {
    const namespace = `${uniqueName('latency')}/`
    const writer = new EtcdConfigStore({ endpoints: etcdConnection.endpoints, namespace })
    const watcher = new EtcdConfigStore({ endpoints: etcdConnection.endpoints, namespace })
    const count = 1000
    const emittedAt = new Map<number, number>()
    const order: number[] = []
    let snapshot = false
    const sub = watcher.watch$<number>('value').subscribe((event) => {
      if (event.type === 'snapshot') snapshot = true
      if (event.type === 'put') {
        emittedAt.set(event.entry.value, performance.now())
        order.push(event.entry.value)
      }
    })
    try {
      await waitFor(() => snapshot, { timeoutMs: 10_000, description: 'the snapshot' })
      const latencies: number[] = []
      const deadline = Date.now() + 120_000
      for (let i = 0; i < count && Date.now() < deadline; i++) {
        const started = performance.now()
        await writer.put('value', i)
        await waitFor(() => emittedAt.has(i), {
          timeoutMs: 10_000,
          intervalMs: 0,
          description: `emission of ${i}`,
        })
        latencies.push((emittedAt.get(i) ?? Number.NaN) - started)
      }
      expect(order).toEqual(Array.from({ length: count }, (_, i) => i))
      const sorted = [...latencies].sort((a, b) => a - b)
      console.info(
        `etcd put→watch$ latency over ${count} puts: p50 ${percentile(sorted, 50).toFixed(2)} ms, ` +
          `p99 ${percentile(sorted, 99).toFixed(2)} ms, max ${percentile(sorted, 100).toFixed(2)} ms`,
      )
    } finally {
      sub.unsubscribe()
      await Promise.all([writer.close(), watcher.close()])
    }
  })
})
