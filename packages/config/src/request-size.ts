/**
 * The size limit of one write, shared by the drivers so every store refuses an oversize value the
 * same way: before anything is sent, with a `ConfigError` that names the key, the size and the
 * limit (retrying cannot help, so it is not reported as an outage).
 *
 * etcd refuses a request over `--max-request-bytes` (1.5 MiB by default); a write is the key, the
 * value, the audit key and record, and a little framing. This module only measures and builds
 * the error; each driver calls it before writing.
 */
import { ConfigError } from '@switchyard/core'
import { auditKey } from './audit.js'

/** etcd's default `--max-request-bytes`: 1.5 MiB. */
export const DEFAULT_MAX_REQUEST_BYTES = 1_572_864

/** Bytes of protobuf framing and compare clauses allowed for in each write request. */
const FRAMING_BYTES = 256

/** The bytes a write of `value` to `key` with its audit record sends. */
export function writeRequestBytes(key: string, value: string, audit: string): number {
  return (
    Buffer.byteLength(key) +
    Buffer.byteLength(value) +
    Buffer.byteLength(auditKey(key)) +
    Buffer.byteLength(audit) +
    FRAMING_BYTES
  )
}

/** The error for a write over the limit (`store` names where, e.g. `etcd`). */
export function valueTooLargeError(key: string, sizeBytes: number, limitBytes: number, store: string) {
  return new ConfigError(
    `value of ${JSON.stringify(key)}`,
    [
      `the write is ${sizeBytes} bytes, over the ${store} request limit of ${limitBytes} bytes (etcd's --max-request-bytes); ` +
        'nothing was written and retrying will not help: keep large data elsewhere and store a reference, ' +
        'or raise the server limit and the store option maxRequestBytes together',
    ],
    { context: { key, field: '', sizeBytes, limitBytes } },
  )
}

/**
 * Throws {@link valueTooLargeError} (naming `key`) when the write exceeds `limitBytes`;
 * `storedKey` is the key as the server stores it (with the namespace), which is what is sent.
 */
export function checkWriteSize(
  key: string,
  value: string,
  audit: string,
  limitBytes: number,
  store: string,
  storedKey = key,
) {
  const size = writeRequestBytes(storedKey, value, audit)
  if (size > limitBytes) throw valueTooLargeError(key, size, limitBytes, store)
}
