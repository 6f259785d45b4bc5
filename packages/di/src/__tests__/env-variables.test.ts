/**
 * The environment as a configuration: a misspelled `SWITCHYARD_*` variable is refused instead of
 * silently leaving a default in force, and `SWITCHYARD_TRANSPORT_KEY` without etcd says where it
 * looked and what to set.
 */
import 'reflect-metadata'
import type { ConfigStore } from '@switchyard/config'
import { type ConfigError, isSwitchyardError, type Transport, type TransportFactory } from '@switchyard/core'
import { MemoryTransport } from '@switchyard/memory'
import { container } from 'tsyringe'
import { afterEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { configStoreFromEnv, configure, fromEnv, type SwitchyardApp } from '../index.js'

/** A factory that reads `SWITCHYARD_FAKE_ENDPOINT`, defaulting it when unset (as real ones do). */
const fake: TransportFactory<{ endpoint: string }> = {
  kind: 'fake',
  packageName: '@acme/switchyard-fake',
  optionsSchema: z.object({ endpoint: z.string() }),
  secretOptions: [],
  fromEnv: (env) => ({ endpoint: env.SWITCHYARD_FAKE_ENDPOINT ?? 'fake://default' }),
  create: (): Transport => new MemoryTransport(),
}

/** The `ConfigError` that `run` throws or rejects with. */
async function expectSwitchyardError(
  run: Promise<unknown> | (() => unknown),
  _name: 'ConfigError',
): Promise<ConfigError> {
  try {
    await (typeof run === 'function' ? run() : run)
  } catch (error) {
    if (isSwitchyardError(error, 'ConfigError')) return error as ConfigError
    throw error
  }
  throw new Error('expected a ConfigError')
}

const apps: SwitchyardApp[] = []
const stores: ConfigStore[] = []
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.stop()))
  await Promise.all(stores.splice(0).map((s) => s.close()))
})

describe('misspelled SWITCHYARD_* variables', () => {
  it('refuses a near miss of a config store variable, naming both', async () => {
    const error = await expectSwitchyardError(
      () => configStoreFromEnv({ SWITCHYARD_ETCD_ENDPOINT: 'http://10.0.0.5:2379' }),
      'ConfigError',
    )
    expect(error.context.field).toBe('SWITCHYARD_ETCD_ENDPOINT')
    expect(error.message).toContain('did you mean SWITCHYARD_ETCD_ENDPOINTS')
  })

  it("refuses a near miss of a variable the transport's factory reads, instead of using its default", async () => {
    const error = await expectSwitchyardError(
      configure(container.createChildContainer(), {
        transport: fromEnv({ env: { TRANSPORT: 'fake', SWITCHYARD_FAKE_ENDPONIT: 'fake://meant' } }),
        transports: [fake],
      }),
      'ConfigError',
    )
    expect(error.context.field).toBe('SWITCHYARD_FAKE_ENDPONIT')
    expect(error.message).toContain('SWITCHYARD_FAKE_ENDPOINT')
  })

  it('leaves correctly spelled variables and unrelated SWITCHYARD_* names alone', async () => {
    const env = {
      TRANSPORT: 'fake',
      SWITCHYARD_FAKE_ENDPOINT: 'fake://meant',
      SWITCHYARD_BROKERS_DIR: '/tmp/brokers',
      SWITCHYARD_KAFKA_PORT: '9092',
    }
    const store = configStoreFromEnv(env)
    stores.push(store)
    const app = await configure(container.createChildContainer(), {
      transport: fromEnv({ env }),
      transports: [fake],
    })
    apps.push(app)
    expect(app.transport).toBeInstanceOf(MemoryTransport)
  })
})

describe('SWITCHYARD_TRANSPORT_KEY without etcd', () => {
  it('says the store is an empty in-memory one and which variable to set', async () => {
    const env = { SWITCHYARD_TRANSPORT_KEY: '/apps/billing/transport' }
    const store = configStoreFromEnv(env)
    stores.push(store)
    const error = await expectSwitchyardError(
      configure(container.createChildContainer(), { configStore: store, transport: fromEnv({ env }) }),
      'ConfigError',
    )
    expect(error.context.field).toBe('SWITCHYARD_TRANSPORT_KEY')
    expect(error.message).toContain('/apps/billing/transport')
    expect(error.message).toContain('in-memory')
    expect(error.message).toContain('SWITCHYARD_ETCD_ENDPOINTS')
  })
})
