/**
 * Secrets: the `Secret` wrapper and AES-256-GCM envelopes (node:crypto).
 *
 * A `Secret` holds a value in memory and prints as a redaction everywhere (`toString`, `toJSON`,
 * `util.inspect`). At rest it is an envelope `{ "$secret": { v, alg, kid, iv, tag, ct } }` inside
 * the stored JSON: the key id says which key of the {@link SecretKeyring} opens it, so keys can be
 * rotated (write with the new one, still read with the old ones). This module does not read or
 * write the store; `value-codec.ts` walks documents and calls it.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { inspect } from 'node:util'
import { SecretKeyError } from '@switchyard/core'
import type { ConfigSecret, SecretKeyring } from './config-store.js'

const ALGORITHM = 'aes-256-gcm'
const brand = Symbol.for('switchyard.secret')

/** The stored form of a secret. Safe to log: it holds ciphertext only. */
export interface SecretEnvelope {
  readonly v: 1
  readonly alg: 'A256GCM'
  /** Id of the key it was encrypted with. */
  readonly kid: string
  /** Base64 12-byte nonce, base64 16-byte tag, base64 ciphertext of the JSON of the value. */
  readonly iv: string
  readonly tag: string
  readonly ct: string
}

/**
 * A value marked secret. Create with `store.secret(value)` or `new Secret(value)`; read the value
 * with `reveal()`. Never printed: `String(s)`, `JSON.stringify(s)` and `console.log(s)` show
 * `[secret]`.
 *
 * A secret read from a store that has no key for it is *sealed*: it keeps its envelope (so it can
 * be written back unchanged) and `reveal()` throws `SecretKeyError` until {@link Secret.open}.
 */
export class Secret<T = unknown> implements ConfigSecret<T> {
  readonly [brand] = true
  #value: { readonly plain: T } | undefined
  #envelope: SecretEnvelope | undefined

  constructor(value: T) {
    this.#value = { plain: value }
    this.#envelope = undefined
  }

  /** A sealed secret around an envelope (used when reading without the key). */
  static sealed<T>(envelope: SecretEnvelope): Secret<T> {
    const s = new Secret<T>(undefined as T)
    s.#value = undefined
    s.#envelope = envelope
    return s
  }

  /** True for any `Secret` (also from another copy of this package). */
  static is(value: unknown): value is Secret {
    return typeof value === 'object' && value !== null && (value as { [brand]?: unknown })[brand] === true
  }

  get sealed(): boolean {
    return this.#value === undefined
  }

  get keyId(): string | undefined {
    return this.#envelope?.kid
  }

  /** The envelope this secret was read from, if it was read sealed or opened from one. */
  get envelope(): SecretEnvelope | undefined {
    return this.#envelope
  }

  reveal(): T {
    if (this.#value === undefined) {
      throw new SecretKeyError(
        `the secret was read without a key for key id ${JSON.stringify(this.#envelope?.kid ?? '')}`,
      )
    }
    return this.#value.plain
  }

  /** A copy opened with `keyring` (or this secret if it is not sealed). Throws `SecretKeyError`. */
  open(keyring: SecretKeyring): Secret<T> {
    if (this.#envelope === undefined || this.#value !== undefined) return this
    return openEnvelope<T>(this.#envelope, keyring)
  }

  toString(): string {
    return '[secret]'
  }

  toJSON(): string {
    return '[secret]'
  }

  [inspect.custom](): string {
    return 'Secret([redacted])'
  }

  /** @internal remembers the envelope an opened secret came from. */
  static withEnvelope<T>(value: T, envelope: SecretEnvelope): Secret<T> {
    const s = new Secret(value)
    s.#envelope = envelope
    return s
  }
}

/** Checks a keyring once, so a bad key fails at construction rather than at the first write. */
export function validateKeyring(keyring: SecretKeyring): void {
  for (const k of [keyring.current, ...(keyring.previous ?? [])]) {
    if (typeof k.id !== 'string' || k.id.length === 0) {
      throw new SecretKeyError('a key of the keyring has an empty id; give every key a non-empty id')
    }
    if (!(k.key instanceof Uint8Array) || k.key.length !== 32) {
      throw new SecretKeyError(
        `key ${JSON.stringify(k.id)} is not 32 bytes; AES-256-GCM needs a 32-byte key (e.g. crypto.randomBytes(32))`,
      )
    }
  }
}

/** Encrypts the JSON of `plain` with the keyring's current key. */
export function sealValue(plain: unknown, keyring: SecretKeyring): SecretEnvelope {
  const { id, key } = keyring.current
  const iv = randomBytes(12)
  const cipher = createCipheriv(ALGORITHM, key, iv)
  const ct = Buffer.concat([cipher.update(JSON.stringify(plain) ?? 'null', 'utf8'), cipher.final()])
  return {
    v: 1,
    alg: 'A256GCM',
    kid: id,
    iv: iv.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
    ct: ct.toString('base64'),
  }
}

/** Decrypts an envelope with the key of its id. Throws `SecretKeyError` (never with the plaintext). */
export function openEnvelope<T>(envelope: SecretEnvelope, keyring: SecretKeyring): Secret<T> {
  const key = [keyring.current, ...(keyring.previous ?? [])].find((k) => k.id === envelope.kid)
  if (key === undefined) {
    throw new SecretKeyError(`no key with id ${JSON.stringify(envelope.kid)} in the keyring`, {
      context: { keyId: envelope.kid },
    })
  }
  try {
    const decipher = createDecipheriv(ALGORITHM, key.key, Buffer.from(envelope.iv, 'base64'))
    decipher.setAuthTag(Buffer.from(envelope.tag, 'base64'))
    const plain = Buffer.concat([decipher.update(Buffer.from(envelope.ct, 'base64')), decipher.final()])
    return Secret.withEnvelope(JSON.parse(plain.toString('utf8')) as T, envelope)
  } catch {
    // The cause is deliberately dropped: it may carry partial plaintext or key material.
    throw new SecretKeyError(
      `key ${JSON.stringify(envelope.kid)} does not open this secret (wrong key material or tampered ciphertext)`,
      { context: { keyId: envelope.kid } },
    )
  }
}

/** True for a stored envelope object `{ $secret: {...} }`. */
export function isEnvelopeHolder(value: unknown): value is { $secret: SecretEnvelope } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  const keys = Object.keys(value)
  if (keys.length !== 1 || keys[0] !== '$secret') return false
  const e = (value as { $secret: unknown }).$secret
  return (
    typeof e === 'object' &&
    e !== null &&
    (e as SecretEnvelope).v === 1 &&
    typeof (e as SecretEnvelope).kid === 'string' &&
    typeof (e as SecretEnvelope).iv === 'string' &&
    typeof (e as SecretEnvelope).tag === 'string' &&
    typeof (e as SecretEnvelope).ct === 'string'
  )
}
