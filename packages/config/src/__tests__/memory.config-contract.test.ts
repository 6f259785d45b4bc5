/**
 * The ConfigStore contract on `MemoryConfigStore`: clients of one shared backend, with a cut-able
 * link for the disconnect scenarios and backend stop/start for the outage scenario.
 */

import { configStoreContract } from '@switchyard/contract'
import { afterAll } from 'vitest'
import { MemoryConfigBackend } from '../memory-config-backend.js'
import { MemoryConfigStore, MemoryLink } from '../memory-config-store.js'

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
    timeoutMs: 5_000,
  },
)
