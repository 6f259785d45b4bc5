/**
 * The ConfigStore SPI: configuration held in a versioned key-value store (etcd, or memory).
 *
 * This module defines the operations and their meaning; this package supplies the derived store
 * and `MemoryConfigStore`, `@switchyard/etcd` the etcd driver, and `@switchyard/contract` the suite
 * both pass. It holds types only: no implementation, no driver.
 *
 * Two layers, in the spirit of Effect's `KeyValueStore.make`:
 * - {@link ConfigStoreDriver} is what an implementation writes: raw string values, revisions,
 *   an ordered change stream, history with audit records, leases for locks and elections.
 * - {@link ConfigStore} is what applications use. It is derived from a driver by a helper
 *   (`makeConfigStore` in `@switchyard/config`), which adds JSON values, secrets (AES-256-GCM),
 *   typed sections validated by any Standard Schema, rollback and namespaces, identically on
 *   every driver.
 *
 * Semantics every store keeps:
 * - Revisions are store-wide, strictly increasing decimal strings (etcd's MVCC revision). A key's
 *   `revision` is the revision of its last change (etcd `mod_revision`).
 * - Compare-and-swap: a write with `expectedRevision` succeeds only when the key's revision is
 *   still that value (`'0'`: the key must not exist); otherwise it rejects with
 *   `RevisionConflictError` and changes nothing.
 * - Watch: current state first, then every later change exactly once and in revision order, even
 *   across a disconnect of the store (resumes from the last revision seen + 1).
 * - Outage: reads serve the last known good value with `stale: true`; writes reject quickly with
 *   `BrokerUnavailableError`; everything recovers by itself when the store returns.
 * - Secrets never appear in errors, logs, `toString()` or `JSON.stringify` output.
 */
import type { StandardSchemaV1 } from '@standard-schema/spec'
import type {
  ConfigError,
  ConfigSecret,
  LeaseLostError,
  SecretKeyError,
  SwitchyardError,
} from '@switchyard/core'

export type { ConfigSecret }

import type { Observable } from 'rxjs'

/** A store revision: a decimal string (etcd revisions are 64-bit). `'0'` means "never existed". */
export type Revision = string

/** One key as read from the store. */
export interface ConfigEntry<T = unknown> {
  /** The key, relative to the store's namespace. */
  readonly key: string
  /** The value; secret fields come back as {@link ConfigSecret} wrappers. */
  readonly value: T
  /** Revision of the key's last change (etcd `mod_revision`); pass it as `expectedRevision` for CAS. */
  readonly revision: Revision
  /** Revision at which the key was created (etcd `create_revision`). */
  readonly createRevision: Revision
  /**
   * True when the store could not be reached and this is the last value seen by this process.
   * A stale entry must not be used as the basis of a compare-and-swap that matters.
   */
  readonly stale: boolean
}

/** One AES-256-GCM key: 32 bytes and the id recorded in every envelope it writes. */
export interface SecretKey {
  readonly id: string
  readonly key: Uint8Array
}

/**
 * Keys for secrets. `current` encrypts every new write; `previous` keys are still accepted for
 * reading, so rotation is: add the new key as `current`, keep the old one in `previous`,
 * re-encrypt (read and write back), then drop the old key.
 */
export interface SecretKeyring {
  readonly current: SecretKey
  readonly previous?: readonly SecretKey[]
}

export interface PutOptions {
  /**
   * Compare-and-swap: write only if the key's revision is still this (`'0'`: only if absent).
   * Otherwise reject with `RevisionConflictError`.
   */
  readonly expectedRevision?: Revision
  /** Encrypt the whole value as a secret (fields can be marked with `store.secret(x)` instead). */
  readonly secret?: boolean
  /** Overrides the store's author in the audit record of this change. */
  readonly author?: string
  /** A short note kept in the audit record (e.g. "rollback to 42"). Never put secrets here. */
  readonly comment?: string
}

export interface DeleteOptions {
  readonly expectedRevision?: Revision
  readonly author?: string
  readonly comment?: string
}

/** Outcome of a write. */
export interface WriteResult {
  /** Revision of this change. */
  readonly revision: Revision
  /** The key's revision before this change, if it existed. */
  readonly previousRevision: Revision | undefined
}

/** What to watch: one key, or every key under a prefix. */
export type WatchTarget = string | { readonly prefix: string }

/**
 * An event of `watch$`. The first event is always a `snapshot` of the current state (zero or one
 * entry for a key, every entry under a prefix); after it come `put` and `delete` events in
 * revision order, each exactly once.
 */
export type ConfigEvent<T = unknown> =
  | {
      readonly type: 'snapshot'
      readonly entries: readonly ConfigEntry<T>[]
      /** Store revision of the snapshot; later events have higher revisions. */
      readonly revision: Revision
      readonly stale: boolean
    }
  | { readonly type: 'put'; readonly entry: ConfigEntry<T> }
  | {
      readonly type: 'delete'
      readonly key: string
      readonly revision: Revision
    }

/** Who changed a key, when, and from what. Written in the same transaction as the change. */
export interface AuditRecord {
  readonly author: string
  /** ms since the epoch, by the writer's clock. */
  readonly time: number
  readonly revision: Revision
  readonly previousRevision: Revision | undefined
  readonly action: 'put' | 'delete'
  readonly comment?: string
}

/** One past state of a key, oldest first in `history()`. */
export interface HistoryEntry<T = unknown> {
  readonly key: string
  readonly revision: Revision
  /** `put`: `value` holds what was written; `delete`: the key was removed. */
  readonly action: 'put' | 'delete'
  readonly value?: T
  /** Absent for changes written without an audit record (e.g. by another tool). */
  readonly audit?: AuditRecord
}

export interface LockOptions {
  /** Lease time-to-live in whole seconds ≥ 1 (default 10): how long a crashed holder blocks others. */
  readonly ttlSeconds?: number
  /** Give up waiting after this many ms with `TimeoutError` (default: wait forever). */
  readonly timeoutMs?: number
  /** Cancel waiting with `CancelledError`. */
  readonly signal?: AbortSignal
}

/** A held distributed lock. */
export interface LockHandle {
  readonly name: string
  /**
   * Emits (once) a `LeaseLostError` if the lease behind the lock is lost (expired while the store
   * was unreachable, or revoked): another holder may then run. Completes on release.
   */
  readonly lost$: Observable<LeaseLostError>
  /** Releases the lock and revokes its lease. Idempotent. */
  release(): Promise<void>
}

export interface ElectionOptions {
  /** Lease time-to-live in seconds (default 10): how long a crashed leader is waited for. */
  readonly ttlSeconds?: number
  /** This candidate's id, shown to others as the leader (default: a random id). */
  readonly candidate?: string
}

/** Leadership as seen by one participant. */
export interface LeaderState {
  /** Id of the current leader, if any. */
  readonly leader: string | undefined
  /** True when this participant is the leader. */
  readonly isLeader: boolean
}

/** Participation in one leader election. */
export interface LeaderElection {
  readonly candidate: string
  /** Current state first, then every change; completes when the store is closed. */
  readonly leader$: Observable<LeaderState>
  /** Lease losses while leading or campaigning (the participant stops leading). */
  readonly errors$: Observable<LeaseLostError>
  /** Stands for election; resolves once this participant leads. Rejects with `CancelledError` on abort. */
  campaign(options?: { readonly signal?: AbortSignal }): Promise<void>
  /** Steps down (if leading) and leaves the election; others may then lead. */
  resign(): Promise<void>
}

/**
 * A typed view of one key, validated by a Standard Schema (zod, valibot, arktype, …).
 *
 * `value$` emits the parsed value (first the current one, then each valid change); a key not
 * written yet emits nothing until it is. An invalid value written by someone else is reported on
 * `errors$` as a `ConfigError` naming the field, a value whose secret cannot be opened as a
 * `SecretKeyError`, a delete as a `ConfigError`; in each case the last valid value stays in force.
 * `put` validates first and refuses an invalid value before it reaches the store. Both streams
 * complete when the store is closed.
 */
export interface ConfigSection<T> {
  readonly key: string
  readonly value$: Observable<T>
  readonly errors$: Observable<ConfigError | SecretKeyError>
  /** Last valid value seen by `value$` subscribers, or `undefined` before any. */
  readonly current: T | undefined
  /** Reads and validates the current value (rejects with `ConfigError` if invalid). */
  get(): Promise<ConfigEntry<T> | undefined>
  /** Validates, then writes. Rejects with `ConfigError` (nothing written) if invalid. */
  put(value: T, options?: PutOptions): Promise<WriteResult>
}

/**
 * Configuration store for applications.
 *
 * @example
 * const store = new EtcdConfigStore({ endpoints, namespace: '/apps/billing', author: 'deploy-bot' })
 * const { value, revision } = (await store.get('limits')) ?? { value: defaults, revision: '0' }
 * await store.put('limits', { ...value, max: 10 }, { expectedRevision: revision })
 * store.watch$('limits').subscribe(event => reload(event))
 */
export interface ConfigStore {
  /** The namespace (key prefix) this store works in, `''` for the root. */
  readonly namespace: string
  /** The current value of a key, or `undefined`; when unreachable, the last known one (`stale: true`). */
  get<T = unknown>(key: string): Promise<ConfigEntry<T> | undefined>
  /**
   * Every key under a prefix, in key order. When the store is unreachable: the last known entries
   * (`stale: true`) if this process has read the whole prefix (or an enclosing one) before, by
   * `list` or a prefix `watch$`; otherwise it rejects with `BrokerUnavailableError`, as `get` does
   * for a key never read. An entry whose secret cannot be opened is left out and reported on
   * {@link ConfigStore.errors$}.
   */
  list<T = unknown>(prefix: string): Promise<readonly ConfigEntry<T>[]>
  /**
   * Writes a JSON value (see {@link PutOptions} for CAS and secrets), with an audit record.
   * Without `expectedRevision` it is a plain write that never conflicts. Rejects with
   * `ConfigError` (nothing written) for a value JSON cannot store as given (`undefined`, `NaN`, a
   * `Map`, a cycle, …) and for a write over the store's request limit (`context.limitBytes`).
   */
  put<T = unknown>(key: string, value: T, options?: PutOptions): Promise<WriteResult>
  /** Deletes a key (with an audit record). Resolves `undefined` if it did not exist. */
  delete(key: string, options?: DeleteOptions): Promise<WriteResult | undefined>
  /**
   * See {@link ConfigEvent}. Unsubscribing cancels the underlying watcher; closing the store
   * completes it. An entry whose secret cannot be opened is left out of the snapshot or event and
   * reported on {@link ConfigStore.errors$}; the other keys keep flowing.
   */
  watch$<T = unknown>(target: WatchTarget): Observable<ConfigEvent<T>>
  /**
   * Values skipped by `watch$` and `list` (and sections) because they could not be read: a
   * `SecretKeyError` with `context.key` and `context.revision`. Completes when the store is closed.
   */
  readonly errors$: Observable<SwitchyardError>
  /** Past values of a key with their audit records, oldest first (bounded by store compaction). */
  history<T = unknown>(key: string): Promise<readonly HistoryEntry<T>[]>
  /** Writes the value the key had at `revision` again, as a new audited change. */
  rollback(key: string, revision: Revision, options?: Omit<PutOptions, 'secret'>): Promise<WriteResult>
  /** A typed, validated view of one key. */
  section<S extends StandardSchemaV1>(key: string, schema: S): ConfigSection<StandardSchemaV1.InferOutput<S>>
  /** Marks a value secret inside a document: `put('db', { password: store.secret(pw) })`. */
  secret<T>(value: T): ConfigSecret<T>
  /** A view of this store under `namespace + '/' + name` (sharing its connection). */
  child(name: string): ConfigStore
  /**
   * Waits for and takes a distributed lock (see {@link LockOptions}). Names are exact: `jobs/a`
   * and `jobs/a/b` are independent locks, and so are a child store's `lock('x')` and the root's
   * `lock('billing')`. Rejects with `ConfigError` for a TTL that is not a whole number ≥ 1.
   */
  lock(name: string, options?: LockOptions): Promise<LockHandle>
  /** Joins a leader election. Names are exact, as for {@link ConfigStore.lock}. */
  election(name: string, options?: ElectionOptions): LeaderElection
  /**
   * Completes every `watch$` and section stream, releases locks, leaves elections and closes the
   * connection, so nothing of the store keeps the process alive. Idempotent; later calls reject
   * with `TransportClosedError`.
   */
  close(): Promise<void>
}

/** A raw stored value, as a driver returns it. */
export interface RawEntry {
  readonly key: string
  readonly value: string
  readonly revision: Revision
  readonly createRevision: Revision
  readonly stale: boolean
}

/** A raw change or snapshot, as a driver's watch emits it (same ordering rules as {@link ConfigEvent}). */
export type RawEvent =
  | {
      readonly type: 'snapshot'
      readonly entries: readonly RawEntry[]
      readonly revision: Revision
      readonly stale: boolean
    }
  | { readonly type: 'put'; readonly entry: RawEntry }
  | { readonly type: 'delete'; readonly key: string; readonly revision: Revision }

/** A raw history item: the stored string at a revision and its audit record, if any. */
export interface RawHistoryEntry {
  readonly key: string
  readonly revision: Revision
  readonly action: 'put' | 'delete'
  readonly value?: string
  readonly audit?: AuditRecord
}

/** What the driver needs to write an audit record with a change. */
export interface AuditInfo {
  readonly author: string
  readonly comment?: string
}

/**
 * The primitives a ConfigStore implementation supplies. Keys are absolute within the driver
 * (namespaces are applied by the caller); values are opaque strings. Every write stores its audit
 * record in the same atomic transaction as the change.
 */
export interface ConfigStoreDriver {
  /** For errors and logs: `etcd`, `memory`, … */
  readonly kind: string
  get(key: string): Promise<RawEntry | undefined>
  list(prefix: string): Promise<readonly RawEntry[]>
  put(
    key: string,
    value: string,
    options: { readonly expectedRevision?: Revision; readonly audit: AuditInfo },
  ): Promise<WriteResult>
  delete(
    key: string,
    options: { readonly expectedRevision?: Revision; readonly audit: AuditInfo },
  ): Promise<WriteResult | undefined>
  watch$(target: WatchTarget): Observable<RawEvent>
  history(key: string): Promise<readonly RawHistoryEntry[]>
  lock(name: string, options: LockOptions): Promise<LockHandle>
  election(name: string, options: ElectionOptions): LeaderElection
  close(): Promise<void>
}
