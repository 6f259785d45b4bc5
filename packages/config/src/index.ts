/**
 * `@switchyard/config`: configuration for Switchyard apps. The `ConfigStore` API (typed sections,
 * watch with resume, compare-and-swap, history and rollback, AES-256-GCM secrets, locks, leader
 * election), the store derived from any config driver, and the in-memory store. Drivers for real
 * stores live in their own packages (`@switchyard/etcd`); driver authors import `@switchyard/config/spi`.
 */
export type * from './config-store.js'
export type { ConfigStoreOptions } from './derived-config-store.js'
export { DerivedConfigStore, makeConfigStore } from './derived-config-store.js'
export { MemoryConfigBackend } from './memory-config-backend.js'
export type { MemoryConfigStoreOptions } from './memory-config-store.js'
export { MemoryConfigStore, MemoryLink } from './memory-config-store.js'
export type { SecretEnvelope } from './secret.js'
export { Secret } from './secret.js'
export { issuePath, validateWith } from './section.js'
