/**
 * `configure()` builds the transport from a static object, the environment or a config-store
 * document through the registry of factories, validates it with the factory's options schema, and
 * registers TRANSPORT / BUS / CONFIG_STORE. Only the memory factory and a fake factory are used:
 * di depends on no broker adapter.
 */
import 'reflect-metadata'
import { randomBytes } from 'node:crypto'
import { MemoryConfigStore } from '@switchyard/config'
import {
  Bus,
  type ConfigError,
  isSwitchyardError,
  type Transport,
  type TransportFactory,
} from '@switchyard/core'
import { refuseUnknownOptions } from '@switchyard/core/spi'
import { MemoryTransport } from '@switchyard/memory'
import { container } from 'tsyringe'
import { afterEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import {
  BUS,
  CONFIG_STORE,
  configure,
  fromConfigStore,
  fromEnv,
  type SwitchyardApp,
  type SwitchyardOptions,
  TRANSPORT,
  type TransportConfig,
  TransportRegistry,
} from '../index.js'

interface FakeOptions {
  readonly endpoint: string
  readonly password?: string | undefined
  readonly retries?: number | undefined
}

/** A user-supplied factory: its own schema, a secret field, an environment reader; builds a memory transport. */
function fakeFactory(): TransportFactory<FakeOptions, unknown> & { readonly built: unknown[] } {
  const shape = {
    endpoint: z.string().regex(/^fake:\/\//, 'must start with fake://'),
    password: z.string().optional(),
    retries: z.number().int().min(0).default(3),
  }
  const built: unknown[] = []
  return {
    kind: 'fake',
    packageName: '@acme/switchyard-fake',
    optionsSchema: z
      .looseObject(shape)
      .superRefine(refuseUnknownOptions(Object.keys(shape)), { when: () => true }),
    secretOptions: ['password'],
    fromEnv: (env) => ({ endpoint: env.FAKE_ENDPOINT }),
    create: (options): Transport => {
      built.push(options)
      return new MemoryTransport()
    },
    built,
  }
}

const apps: SwitchyardApp[] = []
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.stop()))
})

async function build<const F extends readonly TransportFactory[] = []>(
  options: SwitchyardOptions<F>,
): Promise<SwitchyardApp> {
  const app = await configure(container.createChildContainer(), options)
  apps.push(app)
  return app
}

/**
 * A configuration as read at run time (JSON, a test table): the compiler cannot check it, so it is
 * cast past the static types on purpose; configure() still validates it.
 */
const unchecked = (config: TransportConfig): never => config as never

/** Runs `configure` and returns the ConfigError it rejects with. */
async function configError<const F extends readonly TransportFactory[] = []>(
  options: SwitchyardOptions<F>,
): Promise<ConfigError> {
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

  it('builds a kind from a registered factory, with the options as given', async () => {
    const fake = fakeFactory()
    await build({ transport: { kind: 'fake', endpoint: 'fake://a' }, transports: [fake] })
    expect(fake.built).toEqual([{ endpoint: 'fake://a' }])
  })

  it('names the registered kinds and the package to install for a kind nobody registered', async () => {
    const error = await configError({ transport: unchecked({ kind: 'kafka', brokers: ['h:1'] }) })
    expect(error.context.field).toBe('kind')
    expect(error.message).toContain('registered: memory')
    expect(error.message).toContain('@switchyard/kafka')
    const withFake = await configError({
      transport: unchecked({ kind: 'nats' }),
      transports: [fakeFactory()],
    })
    expect(withFake.message).toContain('registered: fake, memory')
  })

  it('refuses something that is not a factory in transports', async () => {
    const error = await configError({ transport: { kind: 'memory' }, transports: [{} as never] })
    expect(error.message).toContain('TransportFactory')
  })

  it('takes a transport built by hand as it is', async () => {
    const transport = new MemoryTransport()
    const app = await build({ transport })
    expect(app.container.resolve(TRANSPORT)).toBe(transport)
  })

  it.each([
    [{ kind: 'nats' }, 'kind'],
    [{ kind: 'fake' }, 'endpoint'],
    [{ kind: 'fake', endpoint: 'http://x' }, 'endpoint'],
    [{ kind: 'memory', retention: -1 }, 'retention'],
    [{ kind: 'fake', endpoint: 'fake://a', retries: -1 }, 'retries'],
  ])('rejects %j with a ConfigError naming %s', async (transport, field) => {
    const error = await configError({ transport: unchecked(transport), transports: [fakeFactory()] })
    expect(error.context.field).toBe(field)
    expect(error.message).toContain(field)
  })

  it('refuses unknown fields instead of ignoring a typo', async () => {
    const error = await configError({
      transport: unchecked({ kind: 'fake', endpoint: 'fake://a', retires: 2 }),
      transports: [fakeFactory()],
    })
    expect(error.context.field).toBe('retires')
    expect(error.message).toContain('did you mean "retries"?')
  })
})

describe('from environment variables', () => {
  it('builds the kind named by TRANSPORT with its SWITCHYARD_* variables', async () => {
    const memory = await build({ transport: fromEnv({ env: { TRANSPORT: 'memory' } }) })
    expect(memory.transport).toBeInstanceOf(MemoryTransport)
    const fake = fakeFactory()
    await build({
      transport: fromEnv({ env: { TRANSPORT: 'fake', FAKE_ENDPOINT: 'fake://env' } }),
      transports: [fake],
    })
    expect(fake.built).toEqual([{ endpoint: 'fake://env' }])
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
      transport: fromEnv({ env: { TRANSPORT: 'fake', FAKE_ENDPOINT: 'localhost' } }),
      transports: [fakeFactory()],
    })
    expect(bad.context.field).toBe('endpoint')
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

  it('passes the document to the factory with its own option names, secrets revealed', async () => {
    const secrets = { current: { id: 'k1', key: new Uint8Array(randomBytes(32)) } }
    const store = new MemoryConfigStore({ secrets })
    await store.put('transport', { kind: 'fake', endpoint: 'fake://doc', password: store.secret('s3cret') })
    const fake = fakeFactory()
    await build({ configStore: store, transport: fromConfigStore('transport'), transports: [fake] })
    expect(fake.built).toEqual([{ endpoint: 'fake://doc', password: 's3cret' }])
  })

  it.each([
    [{ kind: 'fake', endpoint: 'no-scheme' }, 'endpoint'],
    [{ kind: 'fake' }, 'endpoint'],
    [{ kind: 'fake', endpoint: 'fake://a', password: 'plain-text' }, 'password'],
    [{ kind: 'memory', retension: 5 }, 'retension'],
    [{ kind: 'carrier-pigeon' }, 'kind'],
  ])('rejects the bad document %j at start-up, naming %s', async (document, field) => {
    const store = new MemoryConfigStore()
    await store.put('transport', document)
    const error = await configError({
      configStore: store,
      transport: fromConfigStore('transport'),
      transports: [fakeFactory()],
    })
    expect(error.message).not.toContain('plain-text')
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

describe('TransportRegistry', () => {
  it('always knows memory, lets a later factory replace a kind, and lists kinds sorted', async () => {
    const fake = fakeFactory()
    const registry = new TransportRegistry([fake, { ...fakeFactory(), kind: 'alpha' }])
    expect(registry.kinds()).toEqual(['alpha', 'fake', 'memory'])
    const replaced: unknown[] = []
    registry.register({
      ...fakeFactory(),
      kind: 'memory',
      create: (o: unknown) => {
        replaced.push(o)
        return new MemoryTransport()
      },
    })
    await registry.create({ kind: 'memory', endpoint: 'fake://m' })
    expect(replaced).toEqual([{ endpoint: 'fake://m' }])
  })
})

describe('static configurations are typed by the registered factories', () => {
  it('accepts the options of a registered kind and refuses others at compile time', async () => {
    const fake = fakeFactory()
    await build({ transport: { kind: 'memory', retention: 0 }, transports: [fake] })
    await build({ transport: { kind: 'fake', endpoint: 'fake://typed', retries: 1 }, transports: [fake] })
    // @ts-expect-error `retension` is not a memory option
    const typo = await configError({ transport: { kind: 'memory', retension: 5 } })
    expect(typo.context.field).toBe('retension')
    expect(fake.built).toEqual([{ endpoint: 'fake://typed', retries: 1 }])
  })
})
