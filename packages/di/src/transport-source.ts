/**
 * Where a transport configuration comes from: the environment, a config store (etcd), or etcd
 * reached directly. A source only *reads* `{ kind, ...options }`; the registry validates it and
 * builds the adapter (see `transport-registry.ts`), so every source gets the same checks and the
 * same `ConfigError` naming the offending field.
 */

import type { ConfigStore, Revision } from '@switchyard/config'
import { ConfigError, type Environment } from '@switchyard/core'
import { publishSectionFromEnv } from '@switchyard/core/spi'
import { EtcdConfigStore, type EtcdConfigStoreOptions, readTransportDocument } from '@switchyard/etcd'
import { CONFIG_STORE_VARIABLES, checkVariableNames, memoryStoresFromEnv } from './config-store-from-env.js'
import type { TransportRegistry } from './transport-registry.js'

const sourceBrand = Symbol.for('switchyard.di.TransportSource')

/** What a source may use while loading. */
export interface TransportSourceContext {
  readonly registry: TransportRegistry
  /** The config store given to `configure()` (or built from the environment), if any. */
  readonly configStore: ConfigStore | undefined
}

/** A configuration as read by a source, before validation. */
export interface LoadedTransportConfig {
  readonly config: unknown
  /** Where it came from, for error messages: `transport document at /apps/x/transport`. */
  readonly what: string
  /** A store the source opened itself; the app closes it on stop and offers it as `CONFIG_STORE`. */
  readonly openedStore?: ConfigStore
  /** Set when the configuration is a document in a config store: where, and its revision (for `liveSwitch`). */
  readonly document?: TransportDocumentRef
}

/** Where a transport document lives, and the revision that was read. */
export interface TransportDocumentRef {
  readonly store: ConfigStore
  readonly key: string
  readonly revision: Revision | undefined
}

/** A deferred transport configuration; pass one as `configure(container, { transport: source })`. */
export interface TransportSource {
  readonly [sourceBrand]: true
  /** Human description, e.g. `environment (TRANSPORT)`. */
  readonly description: string
  load(context: TransportSourceContext): Promise<LoadedTransportConfig>
}

/** True for values made by `fromEnv`, `fromConfigStore`, `fromEtcd` or `transportSource`. */
export function isTransportSource(value: unknown): value is TransportSource {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { [sourceBrand]?: unknown })[sourceBrand] === true
  )
}

/** Makes a source from a loader (for a configuration kept somewhere Switchyard does not know). */
export function transportSource(
  description: string,
  load: (context: TransportSourceContext) => Promise<LoadedTransportConfig>,
): TransportSource {
  return { [sourceBrand]: true, description, load }
}

/**
 * Reads the document at `key`, validated by `@switchyard/etcd`'s transport document rules for the
 * registered factories: the factory's options schema, and secrets where the factory lists them.
 * Secrets stay wrapped here; the registry reveals them for the adapter.
 */
export async function readDocument(
  store: ConfigStore,
  key: string,
  registry: TransportRegistry,
): Promise<LoadedTransportConfig> {
  const what = `transport document at ${JSON.stringify(key)}`
  // The revision first: if the document changes in between, a live switch sees a newer one and reads again.
  const revision = (await store.get(key).catch(() => undefined))?.revision
  // A missing key or an invalid document rejects with ConfigError naming the key and field.
  const config = await readTransportDocument(store, key, { factories: registry.factories() })
  return { config, what, document: { store, key, revision } }
}

/**
 * The transport document `{ kind, ...options }` stored under `key` in the config store given to
 * `configure()` (`configStore` option), with the adapter's own option names. Fields the kind's
 * factory lists as secret (e.g. `password`) must be stored as secrets; they are revealed for the
 * adapter only.
 *
 * @example
 * await configure(container, { configStore: etcdStore, transport: fromConfigStore('/apps/billing/transport') })
 */
export function fromConfigStore(key: string): TransportSource {
  return transportSource(`config store key ${key}`, async ({ configStore, registry }) => {
    if (!configStore) {
      throw new ConfigError('configure() options', [
        `configStore: fromConfigStore(${JSON.stringify(key)}) needs a config store; pass configStore, or use fromEtcd`,
      ])
    }
    return readDocument(configStore, key, registry)
  })
}

/**
 * The transport document stored under `key` in etcd, reached with `options` (endpoints, namespace,
 * secret keys). The store opened for it becomes the app's `CONFIG_STORE` unless `configure()` was
 * given one, and is closed on stop.
 *
 * @example
 * await configure(container, { transport: fromEtcd('/apps/billing/transport', { endpoints: ['http://127.0.0.1:2379'] }) })
 */
export function fromEtcd(key: string, options: EtcdConfigStoreOptions): TransportSource {
  return transportSource(`etcd key ${key}`, async ({ registry }) => {
    const store = new EtcdConfigStore(options)
    try {
      return { ...(await readDocument(store, key, registry)), openedStore: store }
    } catch (error) {
      await store.close().catch(() => undefined)
      throw error
    }
  })
}

/**
 * Every `SWITCHYARD_*` name the registered factories read, found by letting each `fromEnv` read
 * through a recording view of `env` (and of an empty environment, for the other branch of a
 * choice such as a URL or its parts); plus the config store's variables.
 */
function knownVariables(env: Environment, registry: TransportRegistry): Set<string> {
  const known = new Set(CONFIG_STORE_VARIABLES)
  for (const factory of registry.factories()) {
    for (const source of [env, {}]) {
      const recording = new Proxy(source as Record<string, string | undefined>, {
        get: (target, name) => {
          if (typeof name === 'string') known.add(name)
          return target[name as string]
        },
      })
      try {
        factory.fromEnv?.(recording)
      } catch {
        // A malformed value is the chosen kind's to report, when it is read for real.
      }
    }
  }
  return known
}

/** Options of {@link fromEnv}. */
export interface FromEnvOptions {
  /** Variables to read (default `process.env`). */
  readonly env?: Environment
  /** Kind used when `TRANSPORT` is not set (default: none, which is a `ConfigError`). */
  readonly defaultKind?: string
}

/**
 * The transport named by environment variables:
 *
 * - `SWITCHYARD_TRANSPORT_KEY=/apps/x/transport`: read the transport document at that key of the
 *   config store (see {@link fromConfigStore}); wins over `TRANSPORT`.
 * - otherwise `TRANSPORT=<kind>` (a kind registered with `configure({ transports })`) plus the
 *   `SWITCHYARD_*` variables that kind's factory reads (`fromEnv`; listed in the README:
 *   `SWITCHYARD_KAFKA_BROKERS`, `SWITCHYARD_RABBITMQ_URL`, …), and the publish batching bounds of
 *   every kind from `SWITCHYARD_PUBLISH_*` (`…_MAX_BATCH_MESSAGES`, `…_MAX_BATCH_BYTES`,
 *   `…_LINGER_MS`, `…_MAX_QUEUED_MESSAGES`, `…_WHEN_FULL`).
 *
 * @example
 * // TRANSPORT=kafka SWITCHYARD_KAFKA_BROKERS=10.0.0.5:9092 node dist/notifications.js
 * await configure(container, { transport: fromEnv() })
 */
export function fromEnv(options: FromEnvOptions = {}): TransportSource {
  return transportSource('environment (TRANSPORT / SWITCHYARD_TRANSPORT_KEY)', async (context) => {
    const env = options.env ?? process.env
    checkVariableNames(env, knownVariables(env, context.registry), 'transport environment variables')
    const key = env.SWITCHYARD_TRANSPORT_KEY
    if (key) {
      const where = `SWITCHYARD_TRANSPORT_KEY=${key}`
      if (context.configStore === undefined || memoryStoresFromEnv.has(context.configStore)) {
        throw new ConfigError(
          'transport environment variables',
          [
            `SWITCHYARD_TRANSPORT_KEY: ${where} names a transport document in etcd, but ` +
              (context.configStore === undefined
                ? 'configure() was given no configStore; pass configStore: configStoreFromEnv() and set SWITCHYARD_ETCD_ENDPOINTS'
                : 'SWITCHYARD_ETCD_ENDPOINTS is not set, so configStoreFromEnv() made an empty in-memory store where no document can be; set SWITCHYARD_ETCD_ENDPOINTS (and SWITCHYARD_ETCD_NAMESPACE)'),
          ],
          { context: { field: 'SWITCHYARD_TRANSPORT_KEY', key } },
        )
      }
      return fromConfigStore(key).load(context)
    }
    const kind = env.TRANSPORT || options.defaultKind
    const what = 'transport environment variables'
    if (!kind) {
      throw new ConfigError(
        what,
        [
          `TRANSPORT: set it to one of ${context.registry.kinds().join(', ')} (or set SWITCHYARD_TRANSPORT_KEY)`,
        ],
        { context: { field: 'TRANSPORT' } },
      )
    }
    const factory = context.registry.factory(kind, `${what} (TRANSPORT)`)
    const publish = publishSectionFromEnv(env)
    return { config: { kind, ...factory.fromEnv?.(env), ...(publish ? { publish } : {}) }, what }
  })
}
