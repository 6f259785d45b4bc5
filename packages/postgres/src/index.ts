/**
 * `@switchyard/postgres`: the transactional outbox (`PostgresOutbox`, its `OutboxRelay`) and a
 * `DedupStore` for the `dedupe` middleware, on PostgreSQL through node-postgres (`pg`, a peer
 * dependency: pass your own `pg.Pool`).
 */
export type { PostgresDedupStoreOptions } from './dedup-store.js'
export { PostgresDedupStore } from './dedup-store.js'
export type { OutboxBacklog, OutboxEntry, PostgresOutboxOptions } from './outbox.js'
export { PostgresOutbox } from './outbox.js'
export type { OutboxRelayOptions, OutboxRelayStatus } from './relay.js'
export { OutboxRelay } from './relay.js'
export type { SqlPool, SqlPoolClient, SqlQueryable, SqlResult } from './sql.js'
