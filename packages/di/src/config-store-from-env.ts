/**
 * `configStoreFromEnv`: the application's config store, chosen by environment variables.
 *
 * `SWITCHYARD_ETCD_ENDPOINTS` set → an `EtcdConfigStore`; unset → a `MemoryConfigStore` (one process,
 * nothing persisted), so the same program runs with or without etcd. A `SWITCHYARD_*` variable
 * that is one or two typos away from a variable Switchyard reads is refused with a `ConfigError`
 * naming both, instead of silently leaving the default in force. This module only chooses; the
 * stores live in `@switchyard/etcd`.
 */

import type { ConfigStore, SecretKeyring } from '@switchyard/config'
import { MemoryConfigStore } from '@switchyard/config'
import type { Environment } from '@switchyard/core'
import { ConfigError } from '@switchyard/core'
import { EtcdConfigStore } from '@switchyard/etcd'

/** The variables `configStoreFromEnv` reads, plus `SWITCHYARD_TRANSPORT_KEY` (read by `fromEnv`). */
export const CONFIG_STORE_VARIABLES: readonly string[] = [
  'SWITCHYARD_ETCD_ENDPOINTS',
  'SWITCHYARD_ETCD_NAMESPACE',
  'SWITCHYARD_ETCD_USERNAME',
  'SWITCHYARD_ETCD_PASSWORD',
  'SWITCHYARD_SECRETS_KEY',
  'SWITCHYARD_SECRETS_KEY_ID',
  'SWITCHYARD_TRANSPORT_KEY',
]

/** Memory stores made by `configStoreFromEnv` because no endpoints were set (for `fromEnv`'s errors). */
export const memoryStoresFromEnv = new WeakSet<ConfigStore>()

/** Edit distance with adjacent transpositions (`KAKFA` → `KAFKA` is one edit). */
function typoDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  )
  const at = (i: number, j: number): number => d[i]?.[j] ?? Number.POSITIVE_INFINITY
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        best = Math.min(best, at(i - 2, j - 2) + 1)
      const row = d[i]
      if (row) row[j] = best
    }
  }
  return at(a.length, b.length)
}

/**
 * Refuses `SWITCHYARD_*` variables that are set, are not in `known`, and are at most two typos from
 * a name in `known` (`SWITCHYARD_KAFKA_BROKER` for `SWITCHYARD_KAFKA_BROKERS`): such a variable
 * would otherwise be ignored and a default used in its place. Other unknown names are left alone
 * (tools such as the broker manager have variables of their own).
 */
export function checkVariableNames(env: Environment, known: Iterable<string>, what: string): void {
  const names = new Set(known)
  const issues: string[] = []
  let field: string | undefined
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || !name.startsWith('SWITCHYARD_') || names.has(name)) continue
    let closest: string | undefined
    let distance = 3
    for (const candidate of names) {
      const d = typoDistance(name, candidate)
      if (d < distance) {
        closest = candidate
        distance = d
      }
    }
    if (closest === undefined) continue
    field ??= name
    issues.push(`${name}: is not a variable Switchyard reads, so it is ignored; did you mean ${closest}?`)
  }
  if (issues.length > 0) throw new ConfigError(what, issues, { context: { field: field ?? '' } })
}

/** The secret keyring named by `SWITCHYARD_SECRETS_KEY` (base64 of 32 bytes) and `SWITCHYARD_SECRETS_KEY_ID`. */
function keyringFromEnv(env: Environment): SecretKeyring | undefined {
  const encoded = env.SWITCHYARD_SECRETS_KEY
  if (!encoded) return undefined
  const key = Buffer.from(encoded, 'base64')
  if (key.length !== 32) {
    throw new ConfigError(
      'config store environment variables',
      [
        `SWITCHYARD_SECRETS_KEY: must be 32 bytes in base64 (e.g. \`openssl rand -base64 32\`), got ${key.length} bytes`,
      ],
      { context: { field: 'SWITCHYARD_SECRETS_KEY' } },
    )
  }
  return { current: { id: env.SWITCHYARD_SECRETS_KEY_ID || 'default', key: new Uint8Array(key) } }
}

/**
 * Builds the config store named by the environment:
 *
 * - `SWITCHYARD_ETCD_ENDPOINTS`: comma-separated etcd URLs (`http://127.0.0.1:2379`); without it a
 *   `MemoryConfigStore` is returned.
 * - `SWITCHYARD_ETCD_NAMESPACE`: key prefix of the store (default: none).
 * - `SWITCHYARD_ETCD_USERNAME` / `SWITCHYARD_ETCD_PASSWORD`: etcd credentials, if etcd has auth on.
 * - `SWITCHYARD_SECRETS_KEY` / `SWITCHYARD_SECRETS_KEY_ID`: the AES-256-GCM key (base64, 32 bytes)
 *   that opens secrets in the store, e.g. the password in a transport document.
 *
 * Throws `ConfigError` naming the variable when one is malformed, or when a `SWITCHYARD_*` variable
 * is a near miss of one of these (a typo that would otherwise be ignored).
 *
 * @example
 * await configure(container, { configStore: configStoreFromEnv(), transport: fromEnv() })
 */
export function configStoreFromEnv(env: Environment = process.env): ConfigStore {
  checkVariableNames(env, CONFIG_STORE_VARIABLES, 'config store environment variables')
  const secrets = keyringFromEnv(env)
  const endpoints = (env.SWITCHYARD_ETCD_ENDPOINTS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  if (endpoints.length === 0) {
    const store = new MemoryConfigStore(secrets ? { secrets } : {})
    memoryStoresFromEnv.add(store)
    return store
  }
  const namespace = env.SWITCHYARD_ETCD_NAMESPACE
  const username = env.SWITCHYARD_ETCD_USERNAME
  const password = env.SWITCHYARD_ETCD_PASSWORD
  return new EtcdConfigStore({
    endpoints,
    ...(namespace ? { namespace } : {}),
    ...(username && password ? { auth: { username, password } } : {}),
    ...(secrets ? { secrets } : {}),
  })
}
