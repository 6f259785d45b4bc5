/**
 * The ConfigStore contract on `MemoryConfigStore`: clients of one shared backend, with a cut-able
 * link for the disconnect scenarios and backend stop/start for the outage scenario. The close
 * scenario's separate process imports the built package (`npm run build` first).
 */

import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { configStoreContract } from '@switchyard/contract'
import { afterAll } from 'vitest'
import { MemoryConfigBackend } from '../memory-config-backend.js'
import { MemoryConfigStore, MemoryLink } from '../memory-config-store.js'

const closeExit = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'close-exit.mjs')
const backend = new MemoryConfigBackend()
const link = new MemoryLink()
afterAll(() => backend.dispose())

configStoreContract(
  'memory',
  ({ namespace, secrets, author, flaky }) =>
    new MemoryConfigStore({
      backend,
      namespace,
      ...(secrets ? { secrets } : {}),
      ...(author ? { author } : {}),
      ...(flaky ? { link } : {}),
    }),
  {
    link: { cut: async () => link.cut(), heal: async () => link.heal() },
    restart: async () => {
      backend.stop()
      backend.start()
    },
    stop: async () => backend.stop(),
    start: async () => backend.start(),
    spawnWatcher: (namespace) =>
      spawn(process.execPath, [closeExit, namespace], { stdio: ['ignore', 'pipe', 'pipe'] }),
    timeoutMs: 5_000,
  },
)
