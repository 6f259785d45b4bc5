/**
 * Turns configuration values into stored strings and back: JSON, with every `Secret` inside a
 * document replaced by its AES-256-GCM envelope on the way in and by a `Secret` on the way out.
 *
 * Not a validator (sections do that) and not a transport codec (`@switchyard/core` has those).
 */

import { ConfigError, SecretKeyError } from '@switchyard/core'
import type { SecretKeyring } from './config-store.js'
import { isEnvelopeHolder, openEnvelope, Secret, sealValue } from './secret.js'

/** Built-in objects that JSON would silently turn into `{}` (or lose data from). */
const NOT_JSON: readonly [abstract new (...args: never[]) => unknown, string][] = [
  [Map, 'a Map (use a plain object or an array of entries)'],
  [Set, 'a Set (use an array)'],
  [WeakMap, 'a WeakMap'],
  [WeakSet, 'a WeakSet'],
  [RegExp, 'a RegExp (store its source as a string)'],
  [Promise, 'a Promise (await it first)'],
  [ArrayBuffer, 'binary data (store it as a base64 string)'],
  [Error, 'an Error (store its message as a string)'],
]

/**
 * Serialises `value` for the store, encrypting its secrets with `keyring.current`.
 *
 * Refuses, with a `ConfigError` naming the path, what JSON would store as something else:
 * `undefined` as the value or in an array, `NaN` and `±Infinity`, a `bigint`, a function or a
 * symbol, a `Map`/`Set`/typed array and other built-ins that become `{}`, and circular references.
 * `undefined` object fields are left out, as JSON does; a `Date` is stored as its ISO string.
 */
export function encodeValue(value: unknown, keyring: SecretKeyring | undefined, key: string): string {
  const refuse = (path: string, why: string): never => {
    throw new ConfigError(`value of ${JSON.stringify(key)}`, [`${path || '(value)'}: ${why}`], {
      context: { key, field: path },
    })
  }
  const ancestors = new Set<object>()
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
      return { $secret: sealValue(checked(v.reveal(), path), keyring) }
    }
    return checked(v, path)
  }
  const checked = (v: unknown, path: string): unknown => {
    if (v === undefined)
      return refuse(path, 'is undefined, which JSON cannot store; use null or leave the field out')
    if (typeof v === 'number' && !Number.isFinite(v))
      return refuse(path, `is ${String(v)}, which JSON would store as null; use a finite number or null`)
    if (typeof v === 'bigint' || typeof v === 'function' || typeof v === 'symbol')
      return refuse(path, `${typeof v} is not JSON`)
    if (typeof v !== 'object' || v === null) return v
    if (v instanceof Date) {
      if (Number.isNaN(v.getTime())) return refuse(path, 'is an invalid Date')
      return v.toISOString()
    }
    if (ArrayBuffer.isView(v)) return refuse(path, 'is binary data (store it as a base64 string)')
    for (const [type, what] of NOT_JSON) if (v instanceof type) return refuse(path, `is ${what}, not JSON`)
    if (ancestors.has(v)) return refuse(path, 'refers back to an enclosing object (a circular reference)')
    ancestors.add(v)
    try {
      if (Array.isArray(v)) return v.map((item, i) => walk(item, `${path}[${i}]`))
      const out: Record<string, unknown> = {}
      for (const [k, item] of Object.entries(v)) {
        if (item !== undefined) out[k] = walk(item, path ? `${path}.${k}` : k)
      }
      return out
    } finally {
      ancestors.delete(v)
    }
  }
  return JSON.stringify(walk(value, ''))
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
