/**
 * The transport document: which broker an app uses, `{ kind, ...options }`, stored in the config
 * store and validated before use by the options schema of that kind's `TransportFactory` (the one
 * the adapter's constructor and `@switchyard/di` use too), so option names are the adapter's own.
 *
 * Secrets follow one rule for every kind: each field the factory lists in `secretOptions`
 * (passwords, SASL secrets, TLS keys, a RabbitMQ URL that carries credentials) must be stored as a
 * secret, written with `store.secret(value)`, so it is encrypted at rest and never printed. This
 * module validates; it does not create transports, and it imports no adapter: the caller passes
 * the factories of the kinds it accepts.
 */
import type { StandardSchemaV1 } from '@standard-schema/spec'
import type { ConfigStore, SecretKeyring } from '@switchyard/config'
import { reviveSecrets, validateWith } from '@switchyard/config/spi'
import type { TransportFactory } from '@switchyard/core'
import { ConfigError } from '@switchyard/core'
import {
  checkTransportOptions,
  isConfigSecret,
  plainTextSecretIssues,
  revealSecrets,
  unknownKindMessage,
} from '@switchyard/core/spi'

/**
 * A validated transport document: `kind` plus the adapter's options as stored. Secret fields are
 * `ConfigSecret`s (printed as `[secret]`); `@switchyard/di` reveals them for the adapter.
 * Defaults are not filled in, so a document written back stays as its author wrote it.
 */
export interface TransportDocument {
  readonly kind: string
  readonly [option: string]: unknown
}

type Issue = StandardSchemaV1.Issue

/** Issues for secrets that cannot be opened (read without the key), by path. */
function sealedSecretIssues(value: unknown, path: PropertyKey[] = []): Issue[] {
  if (isConfigSecret(value)) {
    return value.sealed
      ? [
          {
            path,
            message: `is a secret encrypted with key ${JSON.stringify(value.keyId ?? '')}, which this store does not have; pass the keyring (secrets)`,
          },
        ]
      : []
  }
  if (typeof value !== 'object' || value === null) return []
  return Object.entries(value).flatMap(([key, item]) =>
    sealedSecretIssues(item, [...path, Array.isArray(value) ? Number(key) : key]),
  )
}

/** Validates a document with the factory of its kind; resolves the issues, or none. */
async function documentIssues(value: unknown, factories: readonly TransportFactory[]): Promise<Issue[]> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return [
      { message: `must be an object like { "kind": "memory" }, got ${JSON.stringify(value) ?? 'nothing'}` },
    ]
  }
  const { kind, ...options } = value as Record<string, unknown>
  const factory = factories.find((f) => f.kind === kind)
  if (factory === undefined) return [{ path: ['kind'], message: unknownKindMessage(kind, factories) }]
  const issues: Issue[] = [...plainTextSecretIssues(options, factory), ...sealedSecretIssues(options)]
  if (issues.length > 0) return issues
  const checked = await checkTransportOptions(factory, revealSecrets(options) as Record<string, unknown>)
  return [...checked.issues]
}

/**
 * The Standard Schema of a transport document whose kind is one of `factories`'. Use it with
 * `store.section(key, transportDocumentSchema(factories))` to watch the document and refuse an
 * invalid update before it is written.
 *
 * **Details**: checks, in order, that the value is an object, that `kind` has a factory (else the
 * issue names the registered kinds and the package to install), that every field of the factory's
 * `secretOptions` is a secret and can be opened, then validates the options (secrets revealed,
 * `kind` left out) with the factory's `optionsSchema`, and the `publish` section (publish
 * batching bounds, the same for every kind) with the core's rules. The output is the document
 * unchanged.
 *
 * @example
 * const section = store.section('transport', transportDocumentSchema([memoryTransport, kafkaTransport]))
 * await section.put({ kind: 'kafka', brokers: ['10.0.0.5:9092'], sasl: { mechanism: 'plain', username: 'app', password: store.secret(pw) } })
 */
export function transportDocumentSchema(
  factories: readonly TransportFactory[],
): StandardSchemaV1<TransportDocument, TransportDocument> {
  const list = [...factories]
  return {
    '~standard': {
      version: 1,
      vendor: 'switchyard',
      validate: async (value) => {
        const issues = await documentIssues(value, list)
        return issues.length > 0 ? { issues } : { value: value as TransportDocument }
      },
    },
  }
}

/** Options of {@link readTransportDocument}. */
export interface ReadTransportDocumentOptions {
  /** The factories of the kinds accepted, e.g. `[memoryTransport, kafkaTransport]`. */
  readonly factories: readonly TransportFactory[]
  /** Keys to open secrets with, when the store itself was created without them. */
  readonly secrets?: SecretKeyring
}

/**
 * Reads and validates the transport document at `key` (see {@link transportDocumentSchema}).
 *
 * Rejects with `ConfigError` when the key is missing or the document is invalid (`context.field`
 * is the path of the first bad field, e.g. `sasl.password`; `context.key` the key), and with
 * `SecretKeyError` when a secret cannot be opened with the given keyring. A stale read (store
 * unreachable) still returns the last known document.
 *
 * @example
 * const doc = await readTransportDocument(store, 'transport', { factories: [kafkaTransport], secrets: keyring })
 * const transport = kafkaTransport.create(revealSecrets(doc) as KafkaTransportOptions)
 */
export async function readTransportDocument(
  store: ConfigStore,
  key: string,
  options: ReadTransportDocumentOptions,
): Promise<TransportDocument> {
  const entry = await store.get(key)
  const what = `transport document ${JSON.stringify(key)}`
  if (entry === undefined) {
    throw new ConfigError(
      what,
      [
        `the key does not exist in namespace ${JSON.stringify(store.namespace)}; put one like { "kind": "memory" }`,
      ],
      { context: { key, field: '' } },
    )
  }
  const value = options.secrets === undefined ? entry.value : reviveSecrets(entry.value, options.secrets)
  return validateWith(transportDocumentSchema(options.factories), value, what, key)
}
