/**
 * The transport document: which broker an app uses, stored in the config store and validated
 * before use. `@switchyard/di` maps it onto `MemoryTransport` / `KafkaTransport` /
 * `RabbitMqTransport` options, so option names follow those adapters (brokers, clientId, ssl,
 * sasl; url, host, port, vhost, username, password, prefetch, heartbeat).
 *
 * Passwords (and a RabbitMQ URL that carries credentials) must be secrets: written with
 * `store.secret(value)`, so they are encrypted at rest and never printed. This module validates;
 * it does not create transports.
 */
import type { ConfigSecret, ConfigStore, SecretKeyring } from '@switchyard/config'
import { reviveSecrets, Secret, validateWith } from '@switchyard/config/spi'
import { ConfigError } from '@switchyard/core'
import { z } from 'zod'

const secretString = z.custom<ConfigSecret<string>>((v) => Secret.is(v), {
  message: 'must be a secret (write it with store.secret(value)), never plain text',
})

const positiveInt = z.number().int().positive()

const memoryDocument = z.strictObject({ kind: z.literal('memory') })

const kafkaDocument = z.strictObject({
  kind: z.literal('kafka'),
  /** `host:port` of at least one broker. */
  brokers: z.array(z.string().regex(/^[^\s:]+:\d{1,5}$/, 'must be host:port')).min(1),
  clientId: z.string().min(1).optional(),
  /** `true` for TLS with the system CAs, or TLS material. */
  ssl: z
    .union([
      z.boolean(),
      z.strictObject({
        ca: z.string().optional(),
        cert: z.string().optional(),
        key: secretString.optional(),
        rejectUnauthorized: z.boolean().optional(),
      }),
    ])
    .optional(),
  sasl: z
    .strictObject({
      mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']),
      username: z.string().min(1),
      password: secretString,
    })
    .optional(),
  connectionTimeout: positiveInt.optional(),
  requestTimeout: positiveInt.optional(),
})

const rabbitmqDocument = z
  .strictObject({
    kind: z.literal('rabbitmq'),
    /** A full AMQP URL; a secret because it usually carries the password. */
    url: secretString.optional(),
    host: z.string().min(1).optional(),
    port: positiveInt.max(65535).optional(),
    vhost: z.string().optional(),
    username: z.string().min(1).optional(),
    password: secretString.optional(),
    /** Unsettled deliveries per consumer (AMQP prefetch). */
    prefetch: positiveInt.optional(),
    /** Heartbeat interval in seconds (0 disables). */
    heartbeat: z.number().int().nonnegative().optional(),
  })
  .refine((d) => (d.url === undefined) !== (d.host === undefined), {
    message: 'give either url or host (with port, vhost, username, password), not both and not neither',
    path: ['url'],
  })

/** Schema of the transport document (zod; also a Standard Schema, so `store.section(key, transportDocumentSchema)` works). */
export const transportDocumentSchema = z.discriminatedUnion('kind', [
  memoryDocument,
  kafkaDocument,
  rabbitmqDocument,
])

/** A validated transport document. Secret fields are `ConfigSecret`s: call `reveal()` where the driver needs them. */
export type TransportDocument = z.output<typeof transportDocumentSchema>

export interface ReadTransportDocumentOptions {
  /** Keys to open secrets with, when the store itself was created without them. */
  readonly secrets?: SecretKeyring
}

/**
 * Reads and validates the transport document at `key`.
 *
 * Rejects with `ConfigError` when the key is missing or the document is invalid (`context.field`
 * is the path of the first bad field, e.g. `sasl.password`), and with `SecretKeyError` when a
 * secret cannot be opened. A stale read (store unreachable) still returns the last known document.
 *
 * @example
 * const doc = await readTransportDocument(store, 'transport', { secrets: keyring })
 * if (doc.kind === 'kafka') new KafkaTransport({ brokers: doc.brokers, sasl: doc.sasl && { ...doc.sasl, password: doc.sasl.password.reveal() } })
 */
export async function readTransportDocument(
  store: ConfigStore,
  key: string,
  options: ReadTransportDocumentOptions = {},
): Promise<TransportDocument> {
  const entry = await store.get(key)
  const what = `transport document ${JSON.stringify(key)}`
  if (entry === undefined) {
    throw new ConfigError(what, [`the key does not exist in namespace ${JSON.stringify(store.namespace)}`], {
      context: { key, field: '' },
    })
  }
  const value = options.secrets === undefined ? entry.value : reviveSecrets(entry.value, options.secrets)
  return validateWith(transportDocumentSchema, value, what, key)
}
