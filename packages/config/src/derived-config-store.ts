/**
 * `makeConfigStore`: the application-facing `ConfigStore`, derived from a `ConfigStoreDriver`.
 *
 * Drivers (etcd, memory) supply raw primitives; this module adds, once for all of them: JSON
 * values, secrets (encrypted with the app's keyring), the last-known-good cache that serves reads
 * with `stale: true` while the store is unreachable, namespaces (`child`), typed sections and
 * rollback. In the spirit of Effect's `KeyValueStore.make`. It never talks to etcd itself.
 */
import { hostname } from 'node:os'
import type { StandardSchemaV1 } from '@standard-schema/spec'
import {
  ConfigError,
  isSwitchyardError,
  SecretKeyError,
  type SwitchyardError,
  TransportClosedError,
} from '@switchyard/core'
import { defer, filter, map, type Observable, ReplaySubject, Subject, takeUntil, tap } from 'rxjs'
import { normalizeNamespace } from './audit.js'
import type {
  ConfigEntry,
  ConfigEvent,
  ConfigSecret,
  ConfigSection,
  ConfigStore,
  ConfigStoreDriver,
  DeleteOptions,
  ElectionOptions,
  HistoryEntry,
  LeaderElection,
  LockHandle,
  LockOptions,
  PutOptions,
  RawEntry,
  RawEvent,
  Revision,
  SecretKeyring,
  WatchTarget,
  WriteResult,
} from './config-store.js'
import { Secret, validateKeyring } from './secret.js'
import { SchemaSection, type WatchOutcome } from './section.js'
import { decodeValue, encodeValue } from './value-codec.js'

/** Options of {@link makeConfigStore} (and of both stores). */
export interface ConfigStoreOptions {
  /** Who makes changes, recorded in audit records (default `<hostname>:<pid>`). */
  readonly author?: string
  /** Keys for secrets. Without it, secrets are read sealed and writing a secret fails. */
  readonly secrets?: SecretKeyring
  /**
   * Key prefix of this app (e.g. `'/apps/billing/'`), applied by the driver: every key, audit
   * record, lock and election of the store lives under it, so etcd permissions can be per app.
   * A namespace is a folder: a missing trailing `/` is added (`'/apps/billing'` → `'/apps/billing/'`).
   */
  readonly namespace?: string
}

interface Shared {
  readonly driver: ConfigStoreDriver
  readonly author: string
  readonly keyring: SecretKeyring | undefined
  /** Last known good raw entries, by full key. */
  readonly cache: Map<string, RawEntry>
  /**
   * Full prefixes whose whole content was read (by `list` or a prefix watch's snapshot) and kept
   * current in `cache` since: only these may be listed from the cache during an outage.
   */
  readonly listed: Set<string>
  /** Emits once, on close: every watch of every view of the store completes then. */
  readonly closed$: ReplaySubject<void>
  closed: boolean
}

const RESERVED = '__'

/** Derives a full `ConfigStore` from a driver's primitives. */
export function makeConfigStore(driver: ConfigStoreDriver, options: ConfigStoreOptions = {}): ConfigStore {
  return new DerivedConfigStore(driver, options)
}

/** The class behind {@link makeConfigStore}; the stores of this package extend it. */
export class DerivedConfigStore implements ConfigStore {
  readonly #shared: Shared
  readonly #prefix: string
  readonly #root: boolean
  readonly #display: string
  readonly #errors = new Subject<SwitchyardError>()

  constructor(
    driver: ConfigStoreDriver,
    options: ConfigStoreOptions = {},
    internal?: { shared: Shared; prefix: string; display: string },
  ) {
    if (internal) {
      this.#shared = internal.shared
      this.#prefix = internal.prefix
      this.#root = false
      this.#display = internal.display + internal.prefix
    } else {
      if (options.secrets) validateKeyring(options.secrets)
      this.#shared = {
        driver,
        author: options.author ?? `${hostname()}:${process.pid}`,
        keyring: options.secrets,
        cache: new Map(),
        listed: new Set(),
        closed$: new ReplaySubject<void>(1),
        closed: false,
      }
      this.#prefix = ''
      this.#root = true
      this.#display = normalizeNamespace(options.namespace)
    }
    this.#shared.closed$.subscribe(() => this.#errors.complete())
  }

  get namespace(): string {
    return this.#display
  }

  /**
   * Values this store skipped instead of failing a whole stream: an entry of a `watch$` or `list`
   * whose secret cannot be opened (wrong or missing key) is left out of the snapshot, event or
   * list, and reported here as a `SecretKeyError` with `context.key` and `context.revision`. Other
   * keys keep flowing. Completes when the store is closed.
   */
  get errors$(): Observable<SwitchyardError> {
    return this.#errors.asObservable()
  }

  #full(key: string, operation: string): string {
    if (this.#shared.closed)
      throw new TransportClosedError(operation, { context: { transport: 'config store' } })
    if (typeof key !== 'string' || key.length === 0 || key.startsWith(RESERVED) || key.includes('\0')) {
      throw new ConfigError(
        'key',
        [
          `${JSON.stringify(key)} is not a valid key: use a non-empty string that does not start with "__" (reserved)`,
        ],
        { context: { key, operation } },
      )
    }
    return this.#prefix + key
  }

  #relative(fullKey: string): string | undefined {
    if (!fullKey.startsWith(this.#prefix)) return undefined
    const key = fullKey.slice(this.#prefix.length)
    return fullKey.startsWith(RESERVED) || key.startsWith(RESERVED) ? undefined : key
  }

  /** Decodes `raw`; a value that cannot be opened is skipped and reported on `failures`. */
  #tryDecode<T>(raw: RawEntry, failures: SwitchyardError[], stale = raw.stale): ConfigEntry<T> | undefined {
    try {
      return this.#decode<T>(raw, stale)
    } catch (error) {
      if (!isSwitchyardError(error, 'SecretKeyError')) throw error
      const key = this.#relative(raw.key) ?? raw.key
      failures.push(
        new SecretKeyError(
          `the value of ${JSON.stringify(key)} at revision ${raw.revision} holds a secret this store cannot open, ` +
            'so it was skipped (other keys are unaffected)',
          { cause: error, context: { key, revision: raw.revision, keyId: error.context.keyId } },
        ),
      )
      return undefined
    }
  }

  #decode<T>(raw: RawEntry, stale = raw.stale): ConfigEntry<T> | undefined {
    const key = this.#relative(raw.key)
    if (key === undefined) return undefined
    return {
      key,
      value: decodeValue(raw.value, this.#shared.keyring) as T,
      revision: raw.revision,
      createRevision: raw.createRevision,
      stale,
    }
  }

  async get<T = unknown>(key: string): Promise<ConfigEntry<T> | undefined> {
    const full = this.#full(key, 'get')
    let raw: RawEntry | undefined
    try {
      raw = await this.#shared.driver.get(full)
    } catch (error) {
      if (!isSwitchyardError(error, 'BrokerUnavailableError')) throw error
      const cached = this.#shared.cache.get(full)
      if (cached === undefined) throw error
      return this.#decode<T>(cached, true)
    }
    if (raw === undefined) {
      this.#shared.cache.delete(full)
      return undefined
    }
    this.#shared.cache.set(full, raw)
    return this.#decode<T>(raw)
  }

  async list<T = unknown>(prefix: string): Promise<readonly ConfigEntry<T>[]> {
    if (this.#shared.closed)
      throw new TransportClosedError('list', { context: { transport: 'config store' } })
    const full = this.#prefix + prefix
    const { cache, listed } = this.#shared
    let raws: readonly RawEntry[]
    let stale = false
    try {
      raws = await this.#shared.driver.list(full)
      this.#rememberListing(full, raws)
    } catch (error) {
      if (!isSwitchyardError(error, 'BrokerUnavailableError')) throw error
      // As `get`: the last known state if this process knows it whole, else the outage itself.
      // A prefix is known whole only once it was listed (or watched) in full; single `get`s do
      // not tell which other keys exist, and an empty answer would be a lie.
      if (![...listed].some((known) => full.startsWith(known))) throw error
      raws = [...cache.values()]
        .filter((r) => r.key.startsWith(full))
        .sort((a, b) => (a.key < b.key ? -1 : 1))
      stale = true
    }
    const failures: SwitchyardError[] = []
    const entries = raws.flatMap((r) => this.#tryDecode<T>(r, failures, stale || r.stale) ?? [])
    for (const failure of failures) this.#errors.next(failure)
    return entries
  }

  #rememberListing(full: string, raws: readonly RawEntry[]): void {
    const { cache, listed } = this.#shared
    for (const [k] of cache) if (k.startsWith(full)) cache.delete(k)
    for (const r of raws) cache.set(r.key, r)
    listed.add(full)
  }

  async put<T = unknown>(key: string, value: T, options: PutOptions = {}): Promise<WriteResult> {
    const full = this.#full(key, 'put')
    const stored = options.secret && !Secret.is(value) ? new Secret(value) : value
    const raw = encodeValue(stored, this.#shared.keyring, key)
    return this.#shared.driver.put(full, raw, {
      ...(options.expectedRevision === undefined ? {} : { expectedRevision: options.expectedRevision }),
      audit: this.#audit(options),
    })
  }

  #audit(options: { readonly author?: string; readonly comment?: string }) {
    return {
      author: options.author ?? this.#shared.author,
      ...(options.comment === undefined ? {} : { comment: options.comment }),
    }
  }

  async delete(key: string, options: DeleteOptions = {}): Promise<WriteResult | undefined> {
    const full = this.#full(key, 'delete')
    return this.#shared.driver.delete(full, {
      ...(options.expectedRevision === undefined ? {} : { expectedRevision: options.expectedRevision }),
      audit: this.#audit(options),
    })
  }

  watch$<T = unknown>(target: WatchTarget): Observable<ConfigEvent<T>> {
    return this.#watch<T>(target).pipe(
      map((outcome) => outcome.event),
      filter((event): event is ConfigEvent<T> => event !== undefined),
    )
  }

  /**
   * The watch behind `watch$` and sections: each raw event decoded, with the entries that could
   * not be opened left out and reported (on `errors$`, and to the caller in `failures`). Completes
   * when the store is closed.
   */
  #watch<T>(target: WatchTarget): Observable<WatchOutcome<T>> {
    return defer(() => {
      if (this.#shared.closed)
        throw new TransportClosedError('watch', { context: { transport: 'config store' } })
      const full =
        typeof target === 'string' ? this.#full(target, 'watch') : { prefix: this.#prefix + target.prefix }
      return this.#shared.driver.watch$(full).pipe(
        tap((event) => this.#remember(event, full)),
        map((event) => {
          const failures: SwitchyardError[] = []
          const decoded = this.#decodeEvent<T>(event, failures)
          for (const failure of failures) this.#errors.next(failure)
          return { event: decoded, failures }
        }),
      )
    }).pipe(takeUntil(this.#shared.closed$))
  }

  #remember(event: RawEvent, target: WatchTarget): void {
    const cache = this.#shared.cache
    if (event.type === 'snapshot') {
      if (typeof target === 'string') {
        cache.delete(target)
        for (const e of event.entries) cache.set(e.key, e)
      } else this.#rememberListing(target.prefix, event.entries)
    } else if (event.type === 'put') cache.set(event.entry.key, event.entry)
    else cache.delete(event.key)
  }

  #decodeEvent<T>(event: RawEvent, failures: SwitchyardError[]): ConfigEvent<T> | undefined {
    switch (event.type) {
      case 'snapshot':
        return {
          type: 'snapshot',
          entries: event.entries.flatMap((e) => this.#tryDecode<T>(e, failures) ?? []),
          revision: event.revision,
          stale: event.stale,
        }
      case 'put': {
        const entry = this.#tryDecode<T>(event.entry, failures)
        return entry && { type: 'put', entry }
      }
      case 'delete': {
        const key = this.#relative(event.key)
        return key === undefined ? undefined : { type: 'delete', key, revision: event.revision }
      }
    }
  }

  async history<T = unknown>(key: string): Promise<readonly HistoryEntry<T>[]> {
    const full = this.#full(key, 'history')
    const raws = await this.#shared.driver.history(full)
    return raws.map((r) => ({
      key,
      revision: r.revision,
      action: r.action,
      ...(r.value === undefined ? {} : { value: decodeValue(r.value, this.#shared.keyring) as T }),
      ...(r.audit === undefined ? {} : { audit: r.audit }),
    }))
  }

  async rollback(
    key: string,
    revision: Revision,
    options: Omit<PutOptions, 'secret'> = {},
  ): Promise<WriteResult> {
    const full = this.#full(key, 'rollback')
    const past = (await this.#shared.driver.history(full)).find((h) => h.revision === revision)
    if (past === undefined) {
      throw new ConfigError(
        'rollback',
        [
          `key ${JSON.stringify(key)} has no change at revision ${revision} (see history(); compacted revisions are gone)`,
        ],
        { context: { key, field: 'revision' } },
      )
    }
    const write = {
      ...(options.expectedRevision === undefined ? {} : { expectedRevision: options.expectedRevision }),
      audit: this.#audit({ ...options, comment: options.comment ?? `rollback to revision ${revision}` }),
    }
    if (past.action === 'put' && past.value !== undefined)
      return this.#shared.driver.put(full, past.value, write)
    const deleted = await this.#shared.driver.delete(full, write)
    if (deleted === undefined) {
      throw new ConfigError(
        'rollback',
        [`key ${JSON.stringify(key)} is already absent, as at revision ${revision}`],
        {
          context: { key, field: 'revision' },
        },
      )
    }
    return deleted
  }

  section<S extends StandardSchemaV1>(
    key: string,
    schema: S,
  ): ConfigSection<StandardSchemaV1.InferOutput<S>> {
    this.#full(key, 'section')
    return new SchemaSection(this, key, schema, this.#watch<unknown>(key), this.#shared.closed$)
  }

  secret<T>(value: T): ConfigSecret<T> {
    return new Secret(value)
  }

  child(name: string): ConfigStore {
    const prefix = this.#full(name, 'child')
    return new DerivedConfigStore(
      this.#shared.driver,
      {},
      {
        shared: this.#shared,
        prefix: prefix.endsWith('/') ? prefix : `${prefix}/`,
        display: this.#display.slice(0, this.#display.length - this.#prefix.length),
      },
    )
  }

  async lock(name: string, options: LockOptions = {}): Promise<LockHandle> {
    return this.#shared.driver.lock(this.#full(name, 'lock'), options)
  }

  election(name: string, options: ElectionOptions = {}): LeaderElection {
    return this.#shared.driver.election(this.#full(name, 'election'), options)
  }

  async close(): Promise<void> {
    if (!this.#root || this.#shared.closed) return
    this.#shared.closed = true
    // Watches first (they complete, so a subscriber's `complete` runs and nothing keeps the
    // process alive), then the driver's locks, elections and connection.
    this.#shared.closed$.next()
    this.#shared.closed$.complete()
    await this.#shared.driver.close()
  }
}
