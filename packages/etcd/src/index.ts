/**
 * `@switchyard/etcd`: configuration for Switchyard apps on etcd (and in memory), implementing the
 * `ConfigStore` SPI of `@switchyard/core`: typed, watched, validated, encrypted, versioned
 * configuration, distributed locks and leader election, and the transport document.
 */
export type { ConfigStoreOptions } from './derived-config-store.js'
export { DerivedConfigStore, makeConfigStore } from './derived-config-store.js'
export type { EtcdConfigStoreOptions } from './etcd-config-store.js'
export { EtcdConfigDriver, EtcdConfigStore } from './etcd-config-store.js'
export type { LeaseGrant, LeaseSource } from './lease-queue.js'
export type { Batch, Op, Version } from './memory-config-backend.js'
export { MemoryConfigBackend } from './memory-config-backend.js'
export type { MemoryConfigStoreOptions } from './memory-config-store.js'
export { MemoryConfigDriver, MemoryConfigStore, MemoryLink } from './memory-config-store.js'
export type { SecretEnvelope } from './secret.js'
export { Secret } from './secret.js'
export { issuePath, validateWith } from './section.js'
export type { ReadTransportDocumentOptions, TransportDocument } from './transport-document.js'
export { readTransportDocument, transportDocumentSchema } from './transport-document.js'
