/**
 * `@switchyard/etcd`: the etcd driver of `@switchyard/config`. `EtcdConfigStore` is a `ConfigStore`
 * (typed, watched, validated, encrypted, versioned configuration; locks and leader election) on
 * etcd v3 through `etcd3`, and `readTransportDocument` reads the transport document from any store.
 * The ConfigStore API itself, the derived store and the in-memory store live in `@switchyard/config`.
 */
export type { EtcdConfigStoreOptions } from './etcd-config-store.js'
export { EtcdConfigDriver, EtcdConfigStore } from './etcd-config-store.js'
export type { ReadTransportDocumentOptions, TransportDocument } from './transport-document.js'
export { readTransportDocument, transportDocumentSchema } from './transport-document.js'
