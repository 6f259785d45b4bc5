/**
 * `ConfigSecret`: the shape of a value marked secret, shared by transport options (a password read
 * from a config store) and `@switchyard/config`, which creates and encrypts them. Types only.
 */

/**
 * A value marked secret. Encrypted at rest with AES-256-GCM; in memory it is held here and only
 * `reveal()` returns it. `toString()`, `toJSON()` and `util.inspect` print a redaction.
 */
export interface ConfigSecret<T = unknown> {
  /** The plain value. Throws `SecretKeyError` when the secret was read without its key. */
  reveal(): T
  /** Id of the key it was (or will be) encrypted with, if known. */
  readonly keyId: string | undefined
  readonly sealed: boolean
}
