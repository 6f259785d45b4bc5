/**
 * The ConfigStore contract on a real etcd (from the broker manager): a TCP proxy cuts the
 * watcher's link, `restart('etcd')` restarts the server in the middle of the resume scenario, and
 * `down`/`up` stop and start it for the last-known-good scenario. The close scenario's separate
 * process imports the built package (`npm run build` first).
 */
import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { down, etcdConnection, restart, up } from '@switchyard/brokers'
import { configStoreContract } from '@switchyard/contract'
import { afterAll, beforeAll } from 'vitest'
import { EtcdConfigStore } from '../etcd-config-store.js'
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js'

const closeExit = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'close-exit.mjs')
const endpoint = etcdConnection.endpoints[0] ?? 'http://127.0.0.1:2379'
let proxy: TcpProxy | undefined
beforeAll(async () => {
  proxy = await startTcpProxy(etcdConnection)
})
afterAll(async () => {
  await proxy?.close()
})

const viaProxy = (): TcpProxy => {
  if (proxy === undefined) throw new Error('the proxy did not start')
  return proxy
}

configStoreContract(
  'etcd',
  ({ namespace, secrets, author, flaky }) =>
    new EtcdConfigStore({
      endpoints: flaky ? [`http://127.0.0.1:${viaProxy().port}`] : etcdConnection.endpoints,
      namespace,
      operationTimeoutMs: 2000,
      ...(secrets ? { secrets } : {}),
      ...(author ? { author } : {}),
    }),
  {
    restart: async () => {
      await restart('etcd')
    },
    stop: () => down('etcd'),
    start: async () => {
      await up('etcd')
    },
    link: { cut: async () => viaProxy().cut(), heal: async () => viaProxy().heal() },
    spawnWatcher: (namespace) =>
      spawn(process.execPath, [closeExit, endpoint, namespace], { stdio: ['ignore', 'pipe', 'pipe'] }),
    timeoutMs: 20_000,
  },
)
