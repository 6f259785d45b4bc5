/**
 * `configStoreFromEnv`: the application's config store, chosen by environment variables.
 *
 * `SWITCHYARD_ETCD_ENDPOINTS` set → an `EtcdConfigStore`; unset → a `MemoryConfigStore` (one process,
 * nothing persisted), so the same program runs with or without etcd. This module only chooses;
 * the stores live in `@switchyard/etcd`.
 */

import type { ConfigStore, SecretKeyring } from '@switchyard/config'
import { MemoryConfigStore } from '@switchyard/config'
import type { Environment } from '@switchyard/core'
import { ConfigError } from '@switchyard/core'
import { EtcdConfigStore } from '@switchyard/etcd'

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
 * Throws `ConfigError` naming the variable when one is malformed.
 *
 * @example
 * await configure(container, { configStore: configStoreFromEnv(), transport: fromEnv() })
 */
export function configStoreFromEnv(env: Environment = process.env): ConfigStore {
  const secrets = keyringFromEnv(env)
  const endpoints = (env.SWITCHYARD_ETCD_ENDPOINTS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  if (endpoints.length === 0) return new MemoryConfigStore(secrets ? { secrets } : {})
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
