/**
 * A lock holder cut off from etcd (through a TCP proxy) past its lease TTL is told so on `lost$`
 * (LeaseLostError) — and, as etcd expires the lease, another client gets the lock.
 */
import { etcdConnection } from '@switchyard/brokers'
import { uniqueName, waitFor } from '@switchyard/contract'
import { describe, expect, it } from 'vitest'
import { EtcdConfigStore } from '../etcd-config-store.js'
import { startTcpProxy } from './tcp-proxy.js'

describe('etcd lease loss', () => {
  it('reports a lost lock lease and lets the next holder in', async () => {
    const proxy = await startTcpProxy(etcdConnection)
    const namespace = `${uniqueName('lease-lost')}/`
    const cutOff = new EtcdConfigStore({
      endpoints: [`http://127.0.0.1:${proxy.port}`],
      namespace,
      operationTimeoutMs: 1000,
    })
    const other = new EtcdConfigStore({ endpoints: etcdConnection.endpoints, namespace })
    try {
      const lock = await cutOff.lock('job', { ttlSeconds: 2 })
      const lost: string[] = []
      lock.lost$.subscribe((e) => lost.push(e.name))
      proxy.cut()
      await waitFor(() => lost.length === 1, { timeoutMs: 10_000, description: 'the lost lease reported' })
      expect(lost).toEqual(['LeaseLostError'])
      const next = await other.lock('job', { ttlSeconds: 2, timeoutMs: 15_000 })
      await next.release()
      proxy.heal()
      await lock.release()
    } finally {
      proxy.heal()
      await Promise.all([cutOff.close(), other.close()])
      await proxy.close()
    }
  })
})
