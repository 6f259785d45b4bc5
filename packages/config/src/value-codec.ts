/**
 * Turns configuration values into stored strings and back: JSON, with every `Secret` inside a
 * document replaced by its AES-256-GCM envelope on the way in and by a `Secret` on the way out.
 *
 * Not a validator (sections do that) and not a transport codec (`@switchyard/core` has those).
 */

import { ConfigError, SecretKeyError } from '@switchyard/core'
import type { SecretKeyring } from './config-store.js'
import { isEnvelopeHolder, openEnvelope, Secret, sealValue } from './secret.js'

/** Serialises `value` for the store, encrypting its secrets with `keyring.current`. */
export function encodeValue(value: unknown, keyring: SecretKeyring | undefined, key: string): string {
  const walk = (v: unknown, path: string): unknown => {
    if (Secret.is(v)) {
      if (v.sealed) {
        // Read without a key: write the envelope back unchanged.
        const envelope = v.envelope
        if (envelope === undefined) throw new SecretKeyError('a sealed secret has no envelope')
        return { $secret: envelope }
      }
      if (keyring === undefined) {
        throw new SecretKeyError(
          `cannot encrypt the secret at ${JSON.stringify(path || '(value)')} of key ${JSON.stringify(key)}: ` +
            'the store has no keyring; pass `secrets: { current: { id, key } }` to the store',
          { context: { key, field: path } },
        )
      }
      return { $secret: sealValue(v.reveal(), keyring) }
    }
    if (Array.isArray(v)) return v.map((item, i) => walk(item, `${path}[${i}]`))
    if (v instanceof Date) return v.toISOString()
    if (typeof v === 'object' && v !== null) {
      const out: Record<string, unknown> = {}
      for (const [k, item] of Object.entries(v)) {
        if (item !== undefined) out[k] = walk(item, path ? `${path}.${k}` : k)
      }
      return out
    }
    if (typeof v === 'bigint' || typeof v === 'function' || typeof v === 'symbol') {
      throw new ConfigError(
        `value of ${JSON.stringify(key)}`,
        [`${path || '(value)'}: ${typeof v} is not JSON`],
        {
          context: { key, field: path },
        },
      )
    }
    return v
  }
  return JSON.stringify(walk(value, '')) ?? 'null'
}

/**
 * Parses a stored string. Envelopes become `Secret`s, opened with `keyring` when one is given
 * (a wrong or missing key then throws `SecretKeyError`), sealed otherwise. A stored value that is
 * not JSON (written by another tool) is returned as the string itself.
 */
export function decodeValue(raw: string, keyring: SecretKeyring | undefined): unknown {
  let parsed: unknown
  try {
    parsed = JSON.parse(raw)
  } catch {
    return raw
  }
  return reviveSecrets(parsed, keyring)
}

/** Replaces envelopes (and opens sealed secrets when a keyring is given) throughout a value. */
export function reviveSecrets(value: unknown, keyring: SecretKeyring | undefined): unknown {
  const walk = (v: unknown): unknown => {
    if (Secret.is(v)) return keyring === undefined ? v : v.open(keyring)
    if (isEnvelopeHolder(v))
      return keyring === undefined ? Secret.sealed(v.$secret) : openEnvelope(v.$secret, keyring)
    if (Array.isArray(v)) return v.map(walk)
    if (typeof v === 'object' && v !== null) {
      const out: Record<string, unknown> = {}
      for (const [k, item] of Object.entries(v)) out[k] = walk(item)
      return out
    }
    return v
  }
  return walk(value)
}
