/**
 * What etcd compaction does to history and to a watcher resuming across it (see the README).
 */

import { etcdConnection } from '@switchyard/brokers'
import type { ConfigEvent } from '@switchyard/config'
import { expectSwitchyardError, uniqueName, waitFor } from '@switchyard/contract'
import { describe, expect, it } from 'vitest'
import { EtcdConfigStore } from '../etcd-config-store.js'
import { startTcpProxy } from './tcp-proxy.js'

describe('etcd compaction', () => {
  it('drops compacted changes from history and rollback, keeping the latest', async () => {
    const store = new EtcdConfigStore({
      endpoints: etcdConnection.endpoints,
      namespace: `${uniqueName('compact')}/`,
    })
    try {
      const v1 = await store.put('k', 1)
      await store.put('k', 2)
      const v3 = await store.put('k', 3)
      expect((await store.history('k')).map((h) => h.value)).toEqual([1, 2, 3])
      await store.client.kv.compact({ revision: v3.revision })
      const history = await store.history('k')
      expect(history.map((h) => [h.revision, h.value, h.audit?.revision])).toEqual([
        [v3.revision, 3, v3.revision],
      ])
      await expectSwitchyardError(store.rollback('k', v1.revision), 'ConfigError')
    } finally {
      await store.close()
    }
  })

  it('gives a watcher resuming from a compacted revision a fresh snapshot', async () => {
    const proxy = await startTcpProxy(etcdConnection)
    const namespace = `${uniqueName('compact-watch')}/`
    const writer = new EtcdConfigStore({ endpoints: etcdConnection.endpoints, namespace })
    const watcher = new EtcdConfigStore({ endpoints: [`http://127.0.0.1:${proxy.port}`], namespace })
    const events: ConfigEvent<number>[] = []
    let failure: unknown
    const sub = watcher.watch$<number>({ prefix: 'k' }).subscribe({
      next: (e) => events.push(e),
      error: (e: unknown) => {
        failure = e
      },
    })
    try {
      await waitFor(() => events.length === 1, { timeoutMs: 10_000, description: 'the first snapshot' })
      proxy.cut()
      await writer.put('k', 1)
      const last = await writer.put('k', 2)
      await writer.client.kv.compact({ revision: last.revision })
      proxy.heal()
      await waitFor(() => events.length === 2, {
        timeoutMs: 15_000,
        description: () => `a second event, got ${JSON.stringify(events)}`,
      })
      const second = events[1]
      expect(second?.type).toBe('snapshot')
      expect(second?.type === 'snapshot' && second.entries.map((e) => e.value)).toEqual([2])
      await writer.put('k', 3)
      await waitFor(() => events.length === 3, {
        timeoutMs: 10_000,
        description: 'the change after the snapshot',
      })
      expect(events[2]).toMatchObject({ type: 'put', entry: { value: 3 } })
      expect(failure).toBeUndefined()
    } finally {
      sub.unsubscribe()
      proxy.heal()
      await Promise.all([writer.close(), watcher.close()])
      await proxy.close()
    }
  })
})
