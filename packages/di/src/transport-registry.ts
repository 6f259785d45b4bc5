/**
 * The transport registry: the one place that turns a transport configuration `{ kind, ...options }`
 * into a `Transport`, through the `TransportFactory` of that kind.
 *
 * Factories come from the adapters (`memoryTransport` from `@switchyard/memory`, `kafkaTransport`
 * from `@switchyard/kafka`, …); this package imports none but memory, so an app installs only the
 * adapters it uses and passes their factories to `configure({ transports })`. Each configuration
 * is validated by the factory's own options schema, the one its constructor uses. This module does
 * not read etcd or the environment itself (see `transport-source.ts`).
 */
import {
  ConfigError,
  type PublishBatchOptions,
  type Transport,
  type TransportFactory,
} from '@switchyard/core'
import { checkTransportOptions, optionsError, revealSecrets, transportFactoryFor } from '@switchyard/core/spi'
import { memoryTransport } from '@switchyard/memory'

/** A validated configuration, ready to build. */
export interface ResolvedTransportConfig {
  /** The kind the configuration named. */
  readonly kind: string
  /** The options as given (secrets revealed, `kind` and `publish` left out); the adapter applies the defaults. */
  readonly options: Readonly<Record<string, unknown>>
  /** The `publish` section (publish batching bounds, the core's), when the configuration has one. */
  readonly publish: PublishBatchOptions | undefined
  /** The factory that validated it and will build it. */
  readonly factory: TransportFactory
}

/**
 * Factories keyed by kind. The in-memory transport is always registered (unless replaced).
 *
 * **When to use**: `configure()` builds one from its `transports` option; build one yourself only
 * for a custom `TransportSource` or to inspect what is registered.
 *
 * @example
 * const registry = new TransportRegistry([kafkaTransport, rabbitmqTransport])
 * const transport = await registry.create({ kind: 'kafka', brokers: ['10.0.0.5:9092'] })
 */
export class TransportRegistry {
  readonly #factories = new Map<string, TransportFactory>()

  /** A registry of `memoryTransport` plus `factories` (a later factory of the same kind wins). */
  constructor(factories: readonly TransportFactory[] = []) {
    for (const factory of [memoryTransport, ...factories]) this.register(factory)
  }

  /** Adds (or replaces) the factory of `factory.kind`. */
  register(factory: TransportFactory): this {
    if (typeof factory?.kind !== 'string' || typeof factory.create !== 'function' || !factory.optionsSchema) {
      throw new ConfigError('transport factory', [
        `(root): must be a TransportFactory { kind, packageName, optionsSchema, secretOptions, create }, such as kafkaTransport from @switchyard/kafka`,
      ])
    }
    this.#factories.set(factory.kind, factory)
    return this
  }

  /** The kinds this registry can build, sorted. */
  kinds(): string[] {
    return [...this.#factories.keys()].sort()
  }

  /** The registered factories. */
  factories(): TransportFactory[] {
    return [...this.#factories.values()]
  }

  /**
   * The factory of `kind`; throws `ConfigError` on the `kind` field naming the registered kinds and
   * the package to install.
   */
  factory(kind: unknown, what = 'transport configuration'): TransportFactory {
    return transportFactoryFor(kind, this.#factories.values(), what)
  }

  /**
   * Validates `{ kind, ...options }` with the options schema of `kind`'s factory, after revealing
   * any secret in it, and its `publish` section (publish batching, the same for every kind) with
   * the core's rules. Throws `ConfigError` whose `context.field` names the first offending field
   * (`kind`, `brokers`, `sasl.password`, …) and whose message lists every issue. `what` says where
   * the configuration came from, for the message (e.g. `transport document at /apps/x`).
   */
  async validate(config: unknown, what = 'transport configuration'): Promise<ResolvedTransportConfig> {
    if (typeof config !== 'object' || config === null || Array.isArray(config)) {
      throw new ConfigError(
        what,
        [`(root): must be an object like { kind: 'memory' }, got ${String(config)}`],
        {
          context: { field: '(root)' },
        },
      )
    }
    const { kind, ...rest } = config as Record<string, unknown>
    const factory = this.factory(kind, what)
    const checked = await checkTransportOptions(factory, revealSecrets(rest) as Record<string, unknown>)
    if (checked.issues.length > 0) throw optionsError(what, checked.issues, { transport: factory.kind })
    return { kind: factory.kind, options: checked.options, publish: checked.publish, factory }
  }

  /** Validates and builds (without connecting). */
  async create(config: unknown, what?: string): Promise<Transport> {
    const resolved = await this.validate(config, what)
    return resolved.factory.create(resolved.options, resolved.publish)
  }
}
