/**
 * The `publish` section of a transport configuration (publish batching bounds, the core's, the
 * same for every kind) through each path `configure()` reads: a static object, environment
 * variables (`SWITCHYARD_PUBLISH_*`) and a document in a config store. A recording factory shows
 * what reaches `create`; bad values and unknown fields are refused naming the field.
 */
import 'reflect-metadata'
import { MemoryConfigStore } from '@switchyard/config'
import {
  type ConfigError,
  isSwitchyardError,
  type PublishBatchOptions,
  type Transport,
  type TransportFactory,
} from '@switchyard/core'
import { MemoryTransport, memoryTransport } from '@switchyard/memory'
import { container } from 'tsyringe'
import { afterEach, describe, expect, it } from 'vitest'
import { configure, fromConfigStore, fromEnv, type SwitchyardApp, type SwitchyardOptions } from '../index.js'

/** Memory's factory, recording the publish section `create` receives. */
function recording(): TransportFactory & { readonly publish: (PublishBatchOptions | undefined)[] } {
  const publish: (PublishBatchOptions | undefined)[] = []
  return {
    ...memoryTransport,
    create: (options: object, section?: PublishBatchOptions): Transport => {
      publish.push(section)
      return new MemoryTransport(options, section)
    },
    publish,
  }
}

const apps: SwitchyardApp[] = []
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.stop()))
})

async function build(options: SwitchyardOptions): Promise<SwitchyardApp> {
  const app = await configure(container.createChildContainer(), options)
  apps.push(app)
  return app
}

async function configError(options: SwitchyardOptions): Promise<ConfigError> {
  const error = await configure(container.createChildContainer(), options).then(
    () => undefined,
    (e: unknown) => e,
  )
  if (!isSwitchyardError(error, 'ConfigError'))
    throw new Error(`expected a ConfigError, got ${String(error)}`)
  return error as ConfigError
}

const section = {
  maxBatchMessages: 200,
  maxBatchBytes: 65_536,
  lingerMs: 1,
  maxQueuedMessages: 5_000,
  whenFull: 'reject',
} as const

describe('from a static object', () => {
  it('hands the publish section to the factory, apart from the adapter options', async () => {
    const factory = recording()
    const app = await build({
      transport: { kind: 'memory', retention: 0, publish: section },
      transports: [factory],
    })
    expect(factory.publish).toEqual([section])
    expect(app.transport.kind).toBe('memory')
    await build({ transport: { kind: 'memory' }, transports: [factory] })
    expect(factory.publish[1]).toBeUndefined()
  })

  it('refuses a bad value or an unknown field, naming it under publish', async () => {
    const bad = await configError({ transport: { kind: 'memory', publish: { maxQueuedMessages: 0 } } })
    expect(bad.context.field).toBe('publish.maxQueuedMessages')
    expect(bad.message).toContain('must be an integer >= 1')
    const typo = await configError({ transport: { kind: 'memory', publish: { linger: 5 } as never } })
    expect(typo.context.field).toBe('publish.linger')
    expect(typo.message).toContain('did you mean "lingerMs"?')
    const flat = await configError({ transport: { kind: 'memory', whenFull: 'reject' } as never })
    expect(flat.context.field).toBe('whenFull')
    expect(flat.message).toContain('move it into "publish"')
  })
})

describe('static configurations type the publish section', () => {
  it('accepts the batching options of any registered kind and refuses a wrong type at compile time', async () => {
    await build({ transport: { kind: 'memory', publish: { lingerMs: 0, whenFull: 'wait' } } })
    const bad = await configure(container.createChildContainer(), {
      // @ts-expect-error lingerMs is a number of milliseconds
      transport: { kind: 'memory', publish: { lingerMs: 'soon' } },
    }).catch((e: unknown) => e)
    expect((bad as ConfigError).context.field).toBe('publish.lingerMs')
  })
})

describe('from environment variables', () => {
  it('reads SWITCHYARD_PUBLISH_* for any kind', async () => {
    const factory = recording()
    await build({
      transport: fromEnv({
        env: {
          TRANSPORT: 'memory',
          SWITCHYARD_PUBLISH_MAX_BATCH_MESSAGES: '200',
          SWITCHYARD_PUBLISH_MAX_BATCH_BYTES: '65536',
          SWITCHYARD_PUBLISH_LINGER_MS: '1',
          SWITCHYARD_PUBLISH_MAX_QUEUED_MESSAGES: '5000',
          SWITCHYARD_PUBLISH_WHEN_FULL: 'reject',
        },
      }),
      transports: [factory],
    })
    expect(factory.publish).toEqual([section])
  })

  it('refuses a value that does not parse, and a misspelt variable with the closest name', async () => {
    const bad = await configError({
      transport: fromEnv({ env: { TRANSPORT: 'memory', SWITCHYARD_PUBLISH_LINGER_MS: 'soon' } }),
    })
    expect(bad.context.field).toBe('publish.lingerMs')
    const typo = await configError({
      transport: fromEnv({ env: { TRANSPORT: 'memory', SWITCHYARD_PUBLISH_MAX_BATCH_MESSAGE: '10' } }),
    })
    expect(typo.context.field).toBe('publish.maxBatchMessage')
    expect(typo.message).toContain('did you mean "maxBatchMessages"?')
  })
})

describe('from the transport document in a config store', () => {
  it('hands the stored publish section to the factory and refuses a bad one naming the field', async () => {
    const store = new MemoryConfigStore()
    await store.put('transport', { kind: 'memory', publish: section })
    const factory = recording()
    await build({ configStore: store, transport: fromConfigStore('transport'), transports: [factory] })
    expect(factory.publish).toEqual([section])
    const badStore = new MemoryConfigStore()
    await badStore.put('transport', { kind: 'memory', publish: { whenFull: 'drop' } })
    const bad = await configError({ configStore: badStore, transport: fromConfigStore('transport') })
    expect(bad.context.field).toBe('publish.whenFull')
    await badStore.close()
  })
})
