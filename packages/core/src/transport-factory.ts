/**
 * `TransportFactory`: how one kind of transport is described and built from plain data, plus the
 * small helpers every adapter's options schema and every reader of a transport document share.
 *
 * An adapter exports one factory (`memoryTransport`, `kafkaTransport`, `rabbitmqTransport`). Its
 * `optionsSchema` is the only description of the adapter's options: the constructor validates
 * through it, `@switchyard/di` validates configurations through it, and `@switchyard/etcd`
 * validates the transport document `{ kind, ...options }` through it. This module holds no
 * schema library: schemas are Standard Schemas, so an adapter may use zod, valibot or arktype.
 * It does not read stores or the environment.
 */
import { readFileSync } from 'node:fs'
import type { StandardSchemaV1 } from '@standard-schema/spec'
import type { ConfigSecret } from './config-secret.js'
import { ConfigError } from './errors.js'
import {
  type PublishBatchOptions,
  publishBatchOptionNames,
  publishBatchOptionProblem,
} from './publish-batcher.js'
import type { Transport } from './transport.js'

/** Environment variables, as in `process.env`. */
export type Environment = Readonly<Record<string, string | undefined>>

/**
 * How to build one kind of transport from a configuration `{ kind, ...options }`.
 *
 * **When to use**: an adapter exports one; pass it to `configure(container, { transports: [...] })`
 * or to `@switchyard/etcd`'s `readTransportDocument`. Write one for a third-party adapter.
 *
 * **Details**: `optionsSchema` validates the options of a configuration without its `kind` (the
 * built-in adapters also accept their own `kind`, so a whole document can go to a constructor),
 * refuses unknown fields, applies defaults and checks limits. It must validate synchronously,
 * because adapter constructors use it. The `publish` section of a configuration (publish
 * batching, the same for every kind) is not the adapter's: the core validates it and hands it to
 * `create` as its second argument. Fields listed in `secretOptions`
 * hold credentials: a stored document must keep them as secrets (`store.secret(value)`) and
 * {@link redactSecrets} hides them in logs.
 *
 * @example
 * export const redisTransport: TransportFactory<RedisTransportOptions> = {
 *   kind: 'redis',
 *   packageName: '@acme/switchyard-redis',
 *   optionsSchema: redisOptionsSchema,
 *   secretOptions: ['password'],
 *   fromEnv: (env) => ({ url: env.SWITCHYARD_REDIS_URL }),
 *   create: (options, publish) => new RedisTransport(options, publish),
 * }
 */
export interface TransportFactory<Options = unknown, Resolved = unknown, Kind extends string = string> {
  /** The `kind` field that selects this factory, e.g. `'kafka'`. */
  readonly kind: Kind
  /** The npm package that provides it, named in errors when the kind is missing or misconfigured. */
  readonly packageName: string
  /** The one description of the options: defaults, limits, unknown fields refused. Synchronous. */
  readonly optionsSchema: StandardSchemaV1<Options, Resolved>
  /** Dotted paths of fields that hold credentials (`'password'`, `'sasl.password'`, `'ssl.key'`). */
  readonly secretOptions: readonly string[]
  /** Reads this kind's `SWITCHYARD_*` environment variables into raw options (validated after). */
  readonly fromEnv?: (env: Environment) => Record<string, unknown>
  /**
   * Builds the adapter without connecting it. The adapter's constructor validates `options`;
   * `publish` is the configuration's validated `publish` section (publish batching bounds), for
   * `deriveTransport`'s options. (Method syntax on purpose: a factory of specific options still
   * fits `TransportFactory[]`.)
   */
  create(options: Options, publish?: PublishBatchOptions): Transport
}

/** One problem found in a configuration: the path of the field and what to do about it. */
export interface OptionIssue {
  readonly path: readonly PropertyKey[]
  readonly message: string
}

/** Edit distance between two names, case-insensitive (for "did you mean"). */
function distance(a: string, b: string): number {
  const x = a.toLowerCase()
  const y = b.toLowerCase()
  let previous = Array.from({ length: y.length + 1 }, (_, j) => j)
  for (let i = 1; i <= x.length; i++) {
    const current = [i]
    for (let j = 1; j <= y.length; j++) {
      const cost = x[i - 1] === y[j - 1] ? 0 : 1
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost)
    }
    previous = current
  }
  return previous[y.length] ?? 0
}

/**
 * The known name closest to `name`, or undefined when none is close: a typo within a third of the
 * name's length (`prefech` → `prefetch`), or a known name that starts with it (`heartbeat` →
 * `heartbeatSeconds`, `connectionTimeout` → `connectionTimeoutMs`).
 */
export function closestName(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = Number.POSITIVE_INFINITY
  for (const candidate of known) {
    const d = distance(name, candidate)
    if (d < bestDistance) {
      best = candidate
      bestDistance = d
    }
  }
  if (best !== undefined && bestDistance <= Math.max(1, Math.floor(name.length / 3))) return best
  const lower = name.toLowerCase()
  return lower.length >= 3 ? known.find((candidate) => candidate.toLowerCase().startsWith(lower)) : undefined
}

/**
 * One issue per field of `value` that is not in `known`, each naming the field and the closest
 * known name: `prefech: is not an option; did you mean "prefetch"?`. Not an object → no issues
 * (the schema reports the type).
 */
export function unknownOptionIssues(value: unknown, known: readonly string[]): OptionIssue[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return []
  const knownSet = new Set(known)
  const issues: OptionIssue[] = []
  for (const field of Object.keys(value)) {
    if (knownSet.has(field)) continue
    const suggestion = closestName(field, known)
    issues.push({
      path: [field],
      message: suggestion
        ? `is not an option; did you mean "${suggestion}"?`
        : `is not an option; remove it (known options: ${[...known].sort().join(', ')})`,
    })
  }
  return issues
}

/**
 * A refinement, for a schema library's object refinement hook (zod's `superRefine`), that adds
 * {@link unknownOptionIssues} as custom issues. Run it even when other fields fail, so every typo
 * is reported at once.
 *
 * @example
 * z.looseObject(shape).superRefine(refuseUnknownOptions(Object.keys(shape)), { when: () => true })
 */
export function refuseUnknownOptions(
  known: readonly string[],
): (
  value: unknown,
  context: { addIssue(issue: { code: 'custom'; path: PropertyKey[]; message: string }): void },
) => void {
  return (value, context) => {
    for (const issue of unknownOptionIssues(value, known)) {
      context.addIssue({ code: 'custom', path: [...issue.path], message: issue.message })
    }
  }
}

/** `brokers[0]`, `sasl.password`: an issue path as errors print it. */
export function optionPath(
  path: readonly (PropertyKey | StandardSchemaV1.PathSegment)[] | undefined,
): string {
  let out = ''
  for (const segment of path ?? []) {
    const key = typeof segment === 'object' ? segment.key : segment
    out += typeof key === 'number' ? `[${key}]` : out === '' ? String(key) : `.${String(key)}`
  }
  return out
}

/**
 * A `ConfigError` listing every issue as `field: message`; `context.field` is the first field
 * (`(root)` for the whole value). `context` adds e.g. `transport` or `key`.
 */
export function optionsError(
  what: string,
  issues: readonly StandardSchemaV1.Issue[],
  context: Readonly<Record<string, string>> = {},
): ConfigError {
  const fields = issues.map((issue) => optionPath(issue.path) || '(root)')
  return new ConfigError(
    what,
    issues.map((issue, i) => `${fields[i]}: ${issue.message}`),
    { context: { ...context, field: fields[0] ?? '(root)' } },
  )
}

/**
 * Validates `value` with a synchronous Standard Schema and returns its output, or throws
 * `ConfigError` naming every bad field (see {@link optionsError}). Adapter constructors call it.
 */
export function validateOptions<Output>(
  schema: StandardSchemaV1<unknown, Output>,
  value: unknown,
  what: string,
  context: Readonly<Record<string, string>> = {},
): Output {
  const result = schema['~standard'].validate(value)
  if (result instanceof Promise) {
    throw new ConfigError(what, ['(root): the options schema must validate synchronously'], { context })
  }
  if (result.issues) throw optionsError(what, result.issues, context)
  return result.value
}

/** A plain data object (not an array, a Buffer or a class instance), which the helpers below copy. */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false
  const prototype = Object.getPrototypeOf(value)
  return prototype === Object.prototype || prototype === null
}

/** True for a {@link ConfigSecret} (a value read or written as secret by a config store). */
export function isConfigSecret(value: unknown): value is ConfigSecret {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Partial<ConfigSecret>).reveal === 'function' &&
    typeof (value as Partial<ConfigSecret>).sealed === 'boolean'
  )
}

/**
 * A copy of `value` with every {@link ConfigSecret} replaced by its plain value, for an adapter
 * constructor. Throws `SecretKeyError` (from `reveal`) for a secret read without its key.
 */
export function revealSecrets(value: unknown): unknown {
  if (isConfigSecret(value)) return value.reveal()
  if (Array.isArray(value)) return value.map(revealSecrets)
  if (isPlainObject(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, revealSecrets(v)]))
  }
  return value
}

/** The value at a dotted path, or undefined. */
function at(value: unknown, path: string): unknown {
  let current = value
  for (const key of path.split('.')) {
    if (typeof current !== 'object' || current === null) return undefined
    current = (current as Record<string, unknown>)[key]
  }
  return current
}

/**
 * Issues for each of `factory.secretOptions` that `document` holds as plain text rather than as a
 * secret. A stored document must keep credentials encrypted at rest; the message never repeats
 * the value.
 */
export function plainTextSecretIssues(
  document: unknown,
  factory: Pick<TransportFactory, 'secretOptions'>,
): OptionIssue[] {
  const issues: OptionIssue[] = []
  for (const path of factory.secretOptions) {
    const value = at(document, path)
    if (value !== undefined && !isConfigSecret(value)) {
      issues.push({
        path: path.split('.'),
        message: 'must be a secret (write it with store.secret(value)), never plain text',
      })
    }
  }
  return issues
}

/**
 * A copy of `options` safe to log: each of `factory.secretOptions` that is set shows `[secret]`,
 * and so does every {@link ConfigSecret} anywhere.
 */
export function redactSecrets(
  options: Readonly<Record<string, unknown>>,
  factory: Pick<TransportFactory, 'secretOptions'>,
): Record<string, unknown> {
  const copy = (value: unknown): unknown => {
    if (isConfigSecret(value)) return '[secret]'
    if (Array.isArray(value)) return value.map(copy)
    if (isPlainObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, copy(v)]))
    return value
  }
  const out = copy(options) as Record<string, unknown>
  for (const path of factory.secretOptions) {
    const keys = path.split('.')
    const last = keys.pop() as string
    const parent = keys.length === 0 ? out : at(out, keys.join('.'))
    // Only copies are written to: a non-plain object (e.g. TLS options built by a library) is kept whole.
    if (isPlainObject(parent) && parent[last] !== undefined) parent[last] = '[secret]'
  }
  return out
}

/** The adapters published with Switchyard, by kind: the package and the name of its factory. */
const officialAdapters: Readonly<Record<string, readonly [pkg: string, factory: string]>> = {
  memory: ['@switchyard/memory', 'memoryTransport'],
  kafka: ['@switchyard/kafka', 'kafkaTransport'],
  rabbitmq: ['@switchyard/rabbitmq', 'rabbitmqTransport'],
}

/**
 * What is wrong with `kind` when no factory among `factories` has it: the kinds registered and
 * what to install (the package and factory for Switchyard's own adapters).
 */
export function unknownKindMessage(
  kind: unknown,
  factories: Iterable<Pick<TransportFactory, 'kind'>>,
): string {
  const kinds = [...factories].map((factory) => factory.kind).sort()
  const registered = kinds.length === 0 ? 'no kind is registered' : `registered: ${kinds.join(', ')}`
  if (typeof kind !== 'string' || kind === '') {
    return `must name a transport kind (${registered}), got ${JSON.stringify(kind) ?? 'nothing'}`
  }
  const official = Object.hasOwn(officialAdapters, kind) ? officialAdapters[kind] : undefined
  return official
    ? `no transport factory for ${JSON.stringify(kind)} (${registered}); install ${official[0]} and register ` +
        `its factory: configure(container, { transports: [${official[1]}] })`
    : `no transport factory for ${JSON.stringify(kind)} (${registered}); install the package that provides ` +
        `it and register its TransportFactory with configure(container, { transports: [...] })`
}

/**
 * The factory of `kind` among `factories`, or a `ConfigError` on the `kind` field saying
 * {@link unknownKindMessage}.
 */
export function transportFactoryFor<F extends Pick<TransportFactory, 'kind'>>(
  kind: unknown,
  factories: Iterable<F>,
  what = 'transport configuration',
): F {
  const list = [...factories]
  const found = list.find((factory) => factory.kind === kind)
  if (found) return found
  throw new ConfigError(what, [`kind: ${unknownKindMessage(kind, list)}`], { context: { field: 'kind' } })
}

/**
 * Readers of environment variables for a factory's `fromEnv`. A value that does not parse stays a
 * string, so the options schema reports it with the field's name.
 */
export const environmentReaders = {
  /** A comma-separated list, or undefined when unset or empty. */
  list: (value: string | undefined): string[] | undefined =>
    value
      ? value
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : undefined,
  /** `true` / `false`, or undefined when unset or empty. */
  boolean: (value: string | undefined): boolean | string | undefined =>
    value === 'true' ? true : value === 'false' ? false : value || undefined,
  /** A decimal number, or undefined when unset or empty. */
  number: (value: string | undefined): number | string | undefined =>
    !value ? undefined : Number.isNaN(Number(value)) ? value : Number(value),
  /**
   * TLS from `<prefix>_TLS` (`true`/`false`) and the PEM files `<prefix>_TLS_CA_FILE`,
   * `…_TLS_CERT_FILE`, `…_TLS_KEY_FILE` (read here, as Kubernetes mounts them): `{ ca, cert, key }`
   * with the files given, else the `…_TLS` value, else undefined. An unreadable file is a
   * `ConfigError` naming the variable.
   */
  tls: (env: Environment, prefix: string): Record<string, Buffer> | boolean | string | undefined => {
    const flag = environmentReaders.boolean(env[`${prefix}_TLS`])
    const files: Record<string, Buffer> = {}
    for (const [field, suffix] of [
      ['ca', 'CA_FILE'],
      ['cert', 'CERT_FILE'],
      ['key', 'KEY_FILE'],
    ] as const) {
      const variable = `${prefix}_TLS_${suffix}`
      const path = env[variable]
      if (!path) continue
      if (flag === false) {
        throw new ConfigError('transport environment variables', [
          `${prefix}_TLS: false contradicts ${variable}; unset one of them`,
        ])
      }
      try {
        files[field] = readFileSync(path)
      } catch (error) {
        throw new ConfigError('transport environment variables', [
          `${variable}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? String(error)}); give the path of a PEM file`,
        ])
      }
    }
    return Object.keys(files).length === 0 ? flag : files
  },
  /** `raw` without its undefined entries, so optional fields stay absent. */
  defined: (raw: Readonly<Record<string, unknown>>): Record<string, unknown> =>
    Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined)),
} as const

/**
 * The field of a transport configuration or document that holds the publish batching bounds
 * ({@link PublishBatchOptions}), for every kind: `{ kind: 'rabbitmq', url, publish: { lingerMs: 2 } }`.
 */
export const publishSection = 'publish'

/**
 * Issues of a configuration's `publish` section, with paths under `publish`: not an object, a
 * bad value (`publish.lingerMs: must be a number >= 0`), or an unknown field with the closest
 * known name. `undefined` (no section) has none.
 */
export function publishSectionIssues(value: unknown): OptionIssue[] {
  if (value === undefined) return []
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return [
      {
        path: [publishSection],
        message: `must be an object of publish batching options (${publishBatchOptionNames.join(', ')})`,
      },
    ]
  }
  const issues = unknownOptionIssues(value, publishBatchOptionNames).map((issue) => ({
    path: [publishSection, ...issue.path],
    message: issue.message,
  }))
  for (const field of publishBatchOptionNames) {
    const given = (value as Record<string, unknown>)[field]
    const problem = publishBatchOptionProblem(field, given)
    if (problem !== undefined) {
      issues.push({ path: [publishSection, field], message: `${problem}, got ${JSON.stringify(given)}` })
    }
  }
  return issues
}

/** A validated configuration's options, split: the adapter's own, and the `publish` section. */
export interface CheckedTransportOptions {
  /** Every issue found (adapter options and `publish` section); empty when valid. */
  readonly issues: readonly (OptionIssue | StandardSchemaV1.Issue)[]
  /** The adapter's options, without `publish`, as given (for `factory.create`). */
  readonly options: Record<string, unknown>
  /** The `publish` section, when the configuration has one (for `factory.create`'s second argument). */
  readonly publish: PublishBatchOptions | undefined
}

/**
 * Validates the options of a configuration `{ kind, ...options }` (without `kind`, secrets
 * revealed): the `publish` section with the core's rules, the rest with `factory.optionsSchema`.
 * Every issue of both is returned at once; a batching option written at the top level is reported
 * with where it belongs (`lingerMs: is a publish option; move it into "publish"`). Used by
 * `@switchyard/di` and `@switchyard/etcd`, so configurations and documents accept the same fields.
 */
export async function checkTransportOptions(
  factory: Pick<TransportFactory, 'optionsSchema'>,
  options: Readonly<Record<string, unknown>>,
): Promise<CheckedTransportOptions> {
  const { [publishSection]: publish, ...own } = options
  const result = await factory.optionsSchema['~standard'].validate(own)
  const known = new Set<string>(publishBatchOptionNames)
  const adapterIssues = (result.issues ?? []).map((issue) => {
    const field = optionPath(issue.path)
    return known.has(field) && Object.hasOwn(own, field)
      ? {
          path: issue.path,
          message: `is a publish option; move it into "${publishSection}": { "${field}": … }`,
        }
      : issue
  })
  return {
    issues: [...adapterIssues, ...publishSectionIssues(publish)],
    options: own,
    publish: publish as PublishBatchOptions | undefined,
  }
}

/**
 * The `publish` section from `SWITCHYARD_PUBLISH_*` variables, for a source reading the
 * environment: `SWITCHYARD_PUBLISH_MAX_BATCH_MESSAGES`, `…_MAX_BATCH_BYTES`, `…_LINGER_MS`,
 * `…_MAX_QUEUED_MESSAGES`, `…_WHEN_FULL` (`wait` or `reject`). Each variable becomes the
 * camel-cased field (so a misspelt one is reported as an unknown field with the closest name),
 * numbers are parsed where they parse; `undefined` when none is set.
 */
export function publishSectionFromEnv(env: Environment): Record<string, unknown> | undefined {
  const prefix = 'SWITCHYARD_PUBLISH_'
  const section: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(prefix) || !value) continue
    const field = name
      .slice(prefix.length)
      .toLowerCase()
      .replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase())
    section[field] = field === 'whenFull' ? value : environmentReaders.number(value)
  }
  return Object.keys(section).length > 0 ? section : undefined
}
