/**
 * `configure(container, options)`: the one call that wires Switchyard into a tsyringe container.
 *
 * It builds the transport (from a static object, the environment, or a document in a config
 * store), puts a `Bus` on it, registers both (and the config store) under the tokens of
 * `tokens.ts`, registers the service classes as singletons, and returns a `SwitchyardApp` to
 * start and stop. It connects nothing: `app.start()` does. Application code never names a broker;
 * this call, fed by configuration, is the only place that decides.
 */
import { Bus, type BusOptions, type ConfigStore, type Transport } from '@switchyard/core'
import type { KafkaTransportOptions } from '@switchyard/kafka'
import type { MemoryTransportOptions } from '@switchyard/memory'
import type { RabbitMqTransportOptions } from '@switchyard/rabbitmq'
import type { DependencyContainer } from 'tsyringe'
import { defaultTransportRegistry } from './builtin-transports.js'
import { type ServiceClass, SwitchyardApp } from './switchyard-app.js'
import { BUS, CONFIG_STORE, SWITCHYARD_APP, TRANSPORT } from './tokens.js'
import type { TransportRegistry } from './transport-registry.js'
import { isTransportSource, type LoadedTransportConfig, type TransportSource } from './transport-source.js'

/** A static transport configuration of a built-in kind: `{ kind }` plus that adapter's options. */
export type TransportConfig =
  | ({ readonly kind: 'memory' } & MemoryTransportOptions)
  | ({ readonly kind: 'kafka' } & KafkaTransportOptions)
  | ({ readonly kind: 'rabbitmq' } & RabbitMqTransportOptions)

/** Options of {@link configure}. */
export interface SwitchyardOptions {
  /**
   * The transport: a static configuration (`{ kind: 'memory' }`, `{ kind: 'kafka', brokers }`, …),
   * a source (`fromEnv()`, `fromConfigStore(key)`, `fromEtcd(key, connection)`), or a transport
   * you built yourself. Configurations are validated; a bad one rejects with `ConfigError` whose
   * `context.field` names the field.
   */
  readonly transport: TransportConfig | TransportSource | Transport
  /** Config store for live settings (`CONFIG_STORE`) and for `fromConfigStore`. Closed by `app.stop()`. */
  readonly configStore?: ConfigStore
  /** Options of the `Bus` (codec, middleware, hooks, dead-letter topic naming, scheduler). The app closes the transport it created on `stop()`, so `closeTransport` is not needed. */
  readonly bus?: BusOptions
  /** Classes whose `@Handle` methods are subscribed on start; registered as container singletons. */
  readonly services?: readonly ServiceClass[]
  /** Transport factories by kind (default: memory, kafka, rabbitmq). */
  readonly registry?: TransportRegistry
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
 *   configStore: configStoreFromEnv(),          // etcd when SWITCHYARD_ETCD_ENDPOINTS is set
 *   services: [Notifications, SearchIndex],
 * })
 * await app.start()
 * app.installShutdownSignals()
 */
export async function configure(
  container: DependencyContainer,
  options: SwitchyardOptions,
): Promise<SwitchyardApp> {
  const registry = options.registry ?? defaultTransportRegistry()
  let transport: Transport
  let configStore = options.configStore
  if (isTransport(options.transport)) {
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
    if (loaded.openedStore) {
      if (configStore) await loaded.openedStore.close()
      else configStore = loaded.openedStore
    }
  }
  const bus = new Bus(transport, options.bus)
  const services = options.services ?? []
  const app = new SwitchyardApp({ container, transport, bus, configStore, services })
  container.register(TRANSPORT, { useValue: transport })
  container.register(BUS, { useValue: bus })
  if (configStore) container.register(CONFIG_STORE, { useValue: configStore })
  container.register(SWITCHYARD_APP, { useValue: app })
  for (const type of services) {
    if (!container.isRegistered(type)) container.registerSingleton(type)
  }
  return app
}
