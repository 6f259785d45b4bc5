/**
 * `configure(container, options)`: the one call that wires Switchyard into a tsyringe container.
 *
 * It builds the transport (from a static object, the environment, or a document in a config
 * store), puts a `Bus` on it, registers both (and the config store) under the tokens of
 * `tokens.ts`, registers the service classes as singletons, and returns a `SwitchyardApp` to
 * start and stop. It connects nothing: `app.start()` does. Application code never names a broker;
 * this call, fed by configuration, is the only place that decides.
 */

import type { ConfigStore } from '@switchyard/config'
import {
  Bus,
  type BusOptions,
  ConfigError,
  type PublishBatchOptions,
  type Transport,
  type TransportFactory,
} from '@switchyard/core'
import type { memoryTransport } from '@switchyard/memory'
import type { DependencyContainer } from 'tsyringe'
import { LiveSwitch, type LiveSwitchOptions } from './live-switch.js'
import { SwitchableTransport } from './switchable-transport.js'
import { type ServiceClass, SwitchyardApp } from './switchyard-app.js'
import { BUS, CONFIG_STORE, SWITCHYARD_APP, TRANSPORT } from './tokens.js'
import { TransportRegistry } from './transport-registry.js'
import { isTransportSource, type LoadedTransportConfig, type TransportSource } from './transport-source.js'

/**
 * A transport configuration of any kind, as read from a document or the environment: `{ kind }`
 * plus options, checked at run time by the options schema of that kind's factory.
 */
export interface TransportConfig {
  readonly kind: string
  readonly [option: string]: unknown
}

/**
 * The static configuration a factory accepts: `{ kind: 'kafka', brokers: [...] }` for
 * `kafkaTransport`, plus the `publish` section (publish batching bounds, the same for every kind).
 * `configure()` types `transport` as the union of these over the registered factories, so a
 * misspelt option is a compile error as well as a `ConfigError`.
 */
export type TransportConfigOf<F> =
  F extends TransportFactory<infer Options, unknown, infer Kind>
    ? unknown extends Options
      ? TransportConfig // a factory typed without its options: checked at run time only
      : { readonly kind: Kind; readonly publish?: PublishBatchOptions } & Omit<Options, 'kind' | 'publish'>
    : never

/**
 * Options of {@link configure}. `F` is the tuple of factories given as `transports`; a static
 * `transport` must be the configuration of one of them (or of memory).
 */
export interface SwitchyardOptions<F extends readonly TransportFactory[] = readonly TransportFactory[]> {
  /**
   * The transport: a static configuration (`{ kind: 'memory' }`, `{ kind: 'kafka', brokers }`, …),
   * a source (`fromEnv()`, `fromConfigStore(key)`, `fromEtcd(key, connection)`), or a transport
   * you built yourself. Configurations are validated by the options schema of their kind's
   * factory; a bad one rejects with `ConfigError` whose `context.field` names the field.
   */
  readonly transport: TransportConfigOf<F[number] | typeof memoryTransport> | TransportSource | Transport
  /** Config store for live settings (`CONFIG_STORE`) and for `fromConfigStore`. Closed by `app.stop()`. */
  readonly configStore?: ConfigStore
  /** Options of the `Bus` (codec, middleware, hooks, dead-letter topic naming, scheduler). The app closes the transport it created on `stop()`, so `closeTransport` is not needed. */
  readonly bus?: BusOptions
  /** Classes whose `@Handle` methods are subscribed on start; registered as container singletons. */
  readonly services?: readonly ServiceClass[]
  /**
   * Factories of the kinds a configuration may name, from the adapters you installed:
   * `[kafkaTransport, rabbitmqTransport]`. `memoryTransport` is always registered. A configuration
   * whose kind has no factory rejects with `ConfigError` naming the registered kinds and the
   * package to install.
   */
  readonly transports?: F
  /**
   * Switch brokers live when the transport document changes (README "Switching brokers live"):
   * `true` or options. Needs a transport read from a document (`fromConfigStore`, `fromEtcd`, or
   * `fromEnv` with `SWITCHYARD_TRANSPORT_KEY`); anything else rejects with `ConfigError`. The app's
   * `transport` is then a `SwitchableTransport` and `app.events$` tells each switch.
   */
  readonly liveSwitch?: boolean | LiveSwitchOptions
}

function liveSwitchNeedsDocument(what: string): ConfigError {
  return new ConfigError('configure() options', [
    `liveSwitch: the transport comes from ${what}, which cannot change while the app runs; ` +
      'read it from a document (fromConfigStore(key), fromEtcd(key, connection), or SWITCHYARD_TRANSPORT_KEY) or drop liveSwitch',
  ])
}

/** True for an object that already is a transport (as opposed to a configuration of one). */
function isTransport(value: unknown): value is Transport {
  const t = value as Partial<Transport> | null
  return (
    typeof t === 'object' &&
    t !== null &&
    typeof t.publish === 'function' &&
    typeof t.subscribe === 'function' &&
    typeof t.close === 'function'
  )
}

/**
 * Wires Switchyard into `container` and returns the app to start.
 *
 * **When to use**: once per process, at start-up, on a child container
 * (`container.createChildContainer()`) so tests can build several apps side by side.
 * **Details**: registers `TRANSPORT`, `BUS`, `CONFIG_STORE` (when a store is given or opened) and
 * `SWITCHYARD_APP`. Rejects with `ConfigError` for an invalid configuration, before any connection.
 *
 * @example
 * const app = await configure(container.createChildContainer(), {
 *   transport: fromEnv(),                       // TRANSPORT=kafka|rabbitmq|memory
 *   transports: [kafkaTransport, rabbitmqTransport],
 *   configStore: configStoreFromEnv(),          // etcd when SWITCHYARD_ETCD_ENDPOINTS is set
 *   services: [Notifications, SearchIndex],
 * })
 * await app.start()
 * app.installShutdownSignals()
 */
export async function configure<const F extends readonly TransportFactory[] = []>(
  container: DependencyContainer,
  options: SwitchyardOptions<F>,
): Promise<SwitchyardApp> {
  const registry = new TransportRegistry(options.transports ?? [])
  let transport: Transport
  let configStore = options.configStore
  let liveSwitch: LiveSwitch | undefined
  if (isTransport(options.transport)) {
    if (options.liveSwitch) throw liveSwitchNeedsDocument('a transport object')
    transport = options.transport
  } else {
    let loaded: LoadedTransportConfig
    if (isTransportSource(options.transport)) {
      loaded = await options.transport.load({ registry, configStore })
    } else {
      loaded = { config: options.transport, what: 'transport configuration' }
    }
    try {
      transport = await registry.create(loaded.config, loaded.what)
    } catch (error) {
      await loaded.openedStore?.close().catch(() => undefined)
      throw error
    }
    let ownStore: ConfigStore | undefined
    if (loaded.openedStore) {
      if (!configStore) configStore = loaded.openedStore
      else if (options.liveSwitch && loaded.document) ownStore = loaded.openedStore
      else await loaded.openedStore.close()
    }
    if (options.liveSwitch) {
      if (!loaded.document) {
        await transport.close({ drain: false }).catch(() => undefined)
        await ownStore?.close().catch(() => undefined)
        throw liveSwitchNeedsDocument(loaded.what)
      }
      transport = new SwitchableTransport(transport)
      liveSwitch = new LiveSwitch({
        transport: transport as SwitchableTransport,
        registry,
        document: loaded.document,
        options: options.liveSwitch === true ? {} : options.liveSwitch,
        ...(ownStore ? { ownStore } : {}),
      })
    }
  }
  const bus = new Bus(transport, options.bus)
  const services = options.services ?? []
  const app = new SwitchyardApp({ container, transport, bus, configStore, services, liveSwitch })
  container.register(TRANSPORT, { useValue: transport })
  container.register(BUS, { useValue: bus })
  if (configStore) container.register(CONFIG_STORE, { useValue: configStore })
  container.register(SWITCHYARD_APP, { useValue: app })
  for (const type of services) {
    if (!container.isRegistered(type)) container.registerSingleton(type)
  }
  return app
}
