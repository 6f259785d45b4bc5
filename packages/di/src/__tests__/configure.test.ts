/**
 * `configure()` builds the transport from a static object, the environment or a config-store
 * document, validates it, and registers TRANSPORT / BUS / CONFIG_STORE. No broker is contacted:
 * building an adapter does not connect.
 */
import 'reflect-metadata'
import { randomBytes } from 'node:crypto'
import { MemoryConfigStore } from '@switchyard/config'
import { Bus, type ConfigError, isSwitchyardError, type Transport } from '@switchyard/core'
import { MemoryTransport } from '@switchyard/memory'
import { container } from 'tsyringe'
import { afterEach, describe, expect, it } from 'vitest'
import {
  BUS,
  CONFIG_STORE,
  configure,
  defaultTransportRegistry,
  fromConfigStore,
  fromEnv,
  type SwitchyardApp,
  TRANSPORT,
  type TransportConfig,
} from '../index.js'

const apps: SwitchyardApp[] = []
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.stop()))
})

async function build(options: Parameters<typeof configure>[1]): Promise<SwitchyardApp> {
  const app = await configure(container.createChildContainer(), options)
  apps.push(app)
  return app
}

/** Runs `configure` and returns the ConfigError it rejects with. */
async function configError(options: Parameters<typeof configure>[1]): Promise<ConfigError> {
  const error = await configure(container.createChildContainer(), options).then(
    () => undefined,
    (e: unknown) => e,
  )
  if (!isSwitchyardError(error, 'ConfigError'))
    throw new Error(`expected a ConfigError, got ${String(error)}`)
  return error as ConfigError
}

describe('from a static object', () => {
  it('registers a memory transport, a Bus on it and the config store', async () => {
    const store = new MemoryConfigStore()
    const app = await build({ transport: { kind: 'memory' }, configStore: store })
    const transport = app.container.resolve(TRANSPORT)
    expect(transport).toBeInstanceOf(MemoryTransport)
    const bus = app.container.resolve(BUS)
    expect(bus).toBeInstanceOf(Bus)
    expect(bus.transport).toBe(transport)
    expect(app.container.resolve(CONFIG_STORE)).toBe(store)
  })

  it('maps each built-in kind to its adapter without connecting', async () => {
    const kafka = await build({ transport: { kind: 'kafka', brokers: ['127.0.0.1:1'], clientId: 'unit' } })
    expect(kafka.transport.kind).toBe('kafka')
    const rabbit = await build({ transport: { kind: 'rabbitmq', host: '127.0.0.1', port: 1 } })
    expect(rabbit.transport.kind).toBe('rabbitmq')
  })

  it('takes a transport built by hand as it is', async () => {
    const transport = new MemoryTransport()
    const app = await build({ transport })
    expect(app.container.resolve(TRANSPORT)).toBe(transport)
  })

  it.each([
    [{ kind: 'nats' }, 'kind'],
    [{ kind: 'kafka', brokers: [] }, 'brokers'],
    [{ kind: 'kafka', brokers: ['no-port'] }, 'brokers[0]'],
    [{ kind: 'memory', retention: -1 }, 'retention'],
    [{ kind: 'rabbitmq', host: '127.0.0.1', prefetch: 0 }, 'prefetch'],
  ])('rejects %j with a ConfigError naming %s', async (transport, field) => {
    const error = await configError({ transport: transport as unknown as TransportConfig })
    expect(error.context.field).toBe(field)
    expect(error.message).toContain(field)
  })

  it('refuses unknown fields instead of ignoring a typo', async () => {
    const error = await configError({
      transport: { kind: 'kafka', brokers: ['h:1'], brokrs: [] } as TransportConfig,
    })
    expect(error.message).toContain('brokrs')
  })
})

describe('from environment variables', () => {
  it('builds the kind named by TRANSPORT with its SWITCHYARD_* variables', async () => {
    const memory = await build({ transport: fromEnv({ env: { TRANSPORT: 'memory' } }) })
    expect(memory.transport).toBeInstanceOf(MemoryTransport)
    const kafka = await build({
      transport: fromEnv({
        env: { TRANSPORT: 'kafka', SWITCHYARD_KAFKA_BROKERS: '127.0.0.1:1, 127.0.0.1:2' },
      }),
    })
    expect(kafka.transport.kind).toBe('kafka')
  })

  it('uses the default kind only when TRANSPORT is unset', async () => {
    const app = await build({ transport: fromEnv({ env: {}, defaultKind: 'memory' }) })
    expect(app.transport.kind).toBe('memory')
  })

  it('names the variable or field that is wrong', async () => {
    expect((await configError({ transport: fromEnv({ env: {} }) })).context.field).toBe('TRANSPORT')
    expect((await configError({ transport: fromEnv({ env: { TRANSPORT: 'redis' } }) })).context.field).toBe(
      'kind',
    )
    const bad = await configError({
      transport: fromEnv({ env: { TRANSPORT: 'kafka', SWITCHYARD_KAFKA_BROKERS: 'localhost' } }),
    })
    expect(bad.context.field).toBe('brokers[0]')
    const port = await configError({
      transport: fromEnv({ env: { TRANSPORT: 'rabbitmq', SWITCHYARD_RABBITMQ_PORT: 'five' } }),
    })
    expect(port.context.field).toBe('port')
  })

  it('reads the document from the config store when SWITCHYARD_TRANSPORT_KEY is set', async () => {
    const store = new MemoryConfigStore()
    await store.put('apps/x/transport', { kind: 'memory' })
    const app = await build({
      configStore: store,
      transport: fromEnv({ env: { TRANSPORT: 'kafka', SWITCHYARD_TRANSPORT_KEY: 'apps/x/transport' } }),
    })
    expect(app.transport.kind).toBe('memory')
  })
})

describe('from the transport document in a config store', () => {
  it('builds the transport the document names', async () => {
    const store = new MemoryConfigStore()
    await store.put('transport', { kind: 'memory' })
    const app = await build({ configStore: store, transport: fromConfigStore('transport') })
    expect(app.transport).toBeInstanceOf(MemoryTransport)
  })

  it('maps document fields onto adapter options and reveals secrets', async () => {
    const secrets = { current: { id: 'k1', key: new Uint8Array(randomBytes(32)) } }
    const store = new MemoryConfigStore({ secrets })
    await store.put('transport', {
      kind: 'rabbitmq',
      host: '127.0.0.1',
      username: 'svc',
      password: store.secret('s3cret'),
      heartbeat: 5,
    })
    const seen: unknown[] = []
    const registry = defaultTransportRegistry()
    registry.register({
      ...registry.factory('rabbitmq'),
      create: (options): Transport => {
        seen.push(options)
        return new MemoryTransport()
      },
    })
    await build({ configStore: store, transport: fromConfigStore('transport'), registry })
    expect(seen).toEqual([{ host: '127.0.0.1', username: 'svc', password: 's3cret', heartbeatSeconds: 5 }])
  })

  it.each([
    [{ kind: 'kafka', brokers: ['no-port'] }, 'brokers[0]'],
    [{ kind: 'kafka' }, 'brokers'],
    [{ kind: 'rabbitmq', host: '127.0.0.1', password: 'plain-text' }, 'password'],
    [{ kind: 'carrier-pigeon' }, 'kind'],
  ])('rejects the bad document %j at start-up, naming %s', async (document, field) => {
    const store = new MemoryConfigStore()
    await store.put('transport', document)
    const error = await configError({ configStore: store, transport: fromConfigStore('transport') })
    expect(error.context.field).toBe(field)
    expect(error.message).toContain(field)
    await store.close()
  })

  it('says so when the key holds no document, or no store was given', async () => {
    const store = new MemoryConfigStore()
    const missing = await configError({ configStore: store, transport: fromConfigStore('nothing-here') })
    expect(missing.message).toContain('nothing-here')
    const noStore = await configError({ transport: fromConfigStore('transport') })
    expect(noStore.message).toContain('configStore')
    await store.close()
  })
})
