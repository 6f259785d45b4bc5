/**
 * The transport registry: the one place that turns a transport configuration `{ kind, ...options }`
 * into a `Transport`.
 *
 * Each kind has a {@link TransportFactory}: a schema that validates its options, a reader of its
 * environment variables, and a constructor of the adapter. `configure()` asks the registry; no
 * other code looks at `kind`. The built-in kinds (memory, kafka, rabbitmq) are registered in
 * `builtin-transports.ts`; a third-party adapter adds itself with `registry.register(factory)`.
 * This module does not read etcd or the environment itself (see `transport-source.ts`).
 */
import type { StandardSchemaV1 } from '@standard-schema/spec'
import { ConfigError, type Transport } from '@switchyard/core'

/** Environment variables, as in `process.env`. */
export type Environment = Readonly<Record<string, string | undefined>>

/**
 * How to build one kind of transport.
 *
 * @example
 * const redis: TransportFactory<RedisOptions> = {
 *   kind: 'redis',
 *   schema: redisOptionsSchema,
 *   fromEnv: (env) => ({ url: env.SWITCHYARD_REDIS_URL }),
 *   create: (options) => new RedisTransport(options),
 * }
 */
export interface TransportFactory<O = unknown> {
  /** The `kind` field that selects this factory. */
  readonly kind: string
  /** Validates every option except `kind` and returns the adapter's options (secrets revealed). */
  readonly schema: StandardSchemaV1<unknown, O>
  /** Reads this kind's documented `SWITCHYARD_*` variables into raw options (validated by `schema` after). */
  readonly fromEnv: (env: Environment) => Record<string, unknown>
  /**
   * Maps a stored transport document (`@switchyard/etcd`'s `transportDocumentSchema`, minus `kind`)
   * onto raw options (validated by `schema` after), e.g. renaming fields. Default: unchanged.
   */
  readonly fromDocument?: (document: Record<string, unknown>) => Record<string, unknown>
  /** Builds the adapter (may import it lazily). Must not connect: `SwitchyardApp.start()` connects. */
  readonly create: (options: O) => Transport | Promise<Transport>
}

/** A validated configuration, ready to build. */
export interface ResolvedTransportConfig {
  readonly kind: string
  readonly options: unknown
  readonly factory: TransportFactory
}

/** `brokers[0]`, `sasl.password`: the path of an issue, as `@switchyard/etcd` writes it. */
function issuePath(prefix: readonly PropertyKey[], issue: StandardSchemaV1.Issue): string {
  let out = ''
  for (const segment of [...prefix, ...(issue.path ?? [])]) {
    const k = typeof segment === 'object' ? segment.key : segment
    out += typeof k === 'number' ? `[${k}]` : out === '' ? String(k) : `.${String(k)}`
  }
  return out
}

/** Formats standard-schema issues as `field: message` and names the first field in the error context. */
export function configErrorFrom(
  what: string,
  issues: readonly StandardSchemaV1.Issue[],
  prefix: readonly PropertyKey[] = [],
): ConfigError {
  const fields = issues.map((issue) => issuePath(prefix, issue) || '(root)')
  return new ConfigError(
    what,
    issues.map((issue, i) => `${fields[i]}: ${issue.message}`),
    { context: { field: fields[0] ?? '(root)' } },
  )
}

/**
 * Factories keyed by kind.
 *
 * **When to use**: pass a registry to `configure()` only to add a transport of your own
 * (`defaultTransportRegistry().register(myFactory)`); the default knows memory, kafka and rabbitmq.
 */
export class TransportRegistry {
  readonly #factories = new Map<string, TransportFactory>()

  constructor(factories: readonly TransportFactory[] = []) {
    for (const factory of factories) this.register(factory)
  }

  /** Adds (or replaces) the factory of `factory.kind`. */
  register<O>(factory: TransportFactory<O>): this {
    this.#factories.set(factory.kind, factory as unknown as TransportFactory)
    return this
  }

  /** The kinds this registry can build, sorted. */
  kinds(): string[] {
    return [...this.#factories.keys()].sort()
  }

  /** The factory of `kind`; throws `ConfigError` naming the `kind` field for an unknown kind. */
  factory(kind: unknown, what = 'transport configuration'): TransportFactory {
    const factory = typeof kind === 'string' ? this.#factories.get(kind) : undefined
    if (!factory) {
      throw new ConfigError(
        what,
        [`kind: must be one of ${this.kinds().join(', ')}, got ${JSON.stringify(kind) ?? 'nothing'}`],
        { context: { field: 'kind' } },
      )
    }
    return factory
  }

  /**
   * Validates `{ kind, ...options }`. Throws `ConfigError` whose `context.field` names the first
   * offending field (`kind`, `brokers`, `sasl.password`, …) and whose message lists every issue.
   * `what` says where the configuration came from, for the message (e.g. `transport document at /apps/x`).
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
    const result = await factory.schema['~standard'].validate(rest)
    if (result.issues) throw configErrorFrom(what, result.issues)
    return { kind: factory.kind, options: result.value, factory }
  }

  /** Validates and builds (without connecting). */
  async create(config: unknown, what?: string): Promise<Transport> {
    const resolved = await this.validate(config, what)
    return await resolved.factory.create(resolved.options)
  }
}
