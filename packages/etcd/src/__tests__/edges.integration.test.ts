/**
 * etcd-specific edges on a real etcd: a namespace without a trailing slash is a folder, a write
 * the server itself refuses for its size is a `ConfigError` naming the limit (not an outage), and
 * lease options etcd would refuse are typed errors.
 */
import { etcdConnection } from '@switchyard/brokers'
import { expectSwitchyardError, uniqueName } from '@switchyard/contract'
import { Etcd3 } from 'etcd3'
import { afterEach, describe, expect, it } from 'vitest'
import { EtcdConfigStore } from '../etcd-config-store.js'

const stores: EtcdConfigStore[] = []
const open = (namespace: string, extra: { maxRequestBytes?: number } = {}) => {
  const store = new EtcdConfigStore({ endpoints: etcdConnection.endpoints, namespace, ...extra })
  stores.push(store)
  return store
}
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()))
})

describe('EtcdConfigStore edges', () => {
  it('treats a namespace without a trailing slash as the folder it names', async () => {
    const folder = uniqueName('bare')
    const store = open(folder)
    expect(store.namespace).toBe(`${folder}/`)
    await store.put('transport', { kind: 'memory' })
    const raw = new Etcd3({ hosts: [...etcdConnection.endpoints] })
    try {
      expect(await raw.get(`${folder}/transport`).string()).toBe('{"kind":"memory"}')
      expect(await raw.get(`${folder}transport`).string()).toBeNull()
      await raw.delete().prefix(`${folder}/`)
    } finally {
      raw.close()
    }
  })

  it("maps the server's own size refusal to a ConfigError naming the limit, not an outage", async () => {
    // The store is told the server takes 16 MiB, so the write reaches etcd, which refuses it.
    const store = open(`${uniqueName('size')}/`, { maxRequestBytes: 16 * 1024 * 1024 })
    const error = await expectSwitchyardError(store.put('big', 'x'.repeat(2 * 1024 * 1024)), 'ConfigError')
    expect(error.context.limitBytes).toBe(16 * 1024 * 1024)
    expect(error.retryable).toBe(false)
    expect(await store.get('big')).toBeUndefined()
  })

  it('refuses lease TTLs etcd would reject with a typed ConfigError', async () => {
    const store = open(`${uniqueName('ttl')}/`)
    for (const ttlSeconds of [0, -5, Number.NaN]) {
      await expectSwitchyardError(store.lock('job', { ttlSeconds }), 'ConfigError')
    }
    const held = await store.lock('job', { ttlSeconds: 2 })
    await held.release()
  })
})
