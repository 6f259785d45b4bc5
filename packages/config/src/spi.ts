/**
 * `@switchyard/config/spi`: what the author of a config driver (such as `@switchyard/etcd`) needs
 * beyond the application API: the audit record format, lease queues for locks and elections, the
 * memory driver and the value codec. Applications should not import this entry point.
 */
export { auditKey, auditValue, electionPrefix, lockPrefix, normalizeNamespace, parseAudit } from './audit.js'
export * from './index.js'
export type { LeaseGrant, LeaseSource } from './lease-queue.js'
export { acquireLock, QueueElection } from './lease-queue.js'
export type { Batch, Op, Version } from './memory-config-backend.js'
export { MemoryConfigDriver } from './memory-config-store.js'
export {
  checkWriteSize,
  DEFAULT_MAX_REQUEST_BYTES,
  valueTooLargeError,
  writeRequestBytes,
} from './request-size.js'
export { openEnvelope, sealValue, validateKeyring } from './secret.js'
export { decodeValue, encodeValue, reviveSecrets } from './value-codec.js'
