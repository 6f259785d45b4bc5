/**
 * `MemoryConfigStore`: the in-process `ConfigStore`, with the same behaviour as the etcd one
 * (revisions, compare-and-swap, ordered resumable watch, audited history, leases, locks,
 * elections) — the reference model for the contract suite and the default in unit tests.
 *
 * Several stores can share one {@link MemoryConfigBackend} to act as several clients of one
 * server; `backend.stop()`/`start()` simulate an outage (reads go stale, writes fail, watchers
 * resume without loss afterwards). Nothing is persisted outside the process.
 */

import {
  BrokerUnavailableError,
  LeaseLostError,
  RevisionConflictError,
  TransportClosedError,
} from '@switchyard/core'
import { Observable, type Subscriber } from 'rxjs'
import { auditKey, auditValue, electionPrefix, lockPrefix, normalizeNamespace, parseAudit } from './audit.js'
import type {
  AuditInfo,
  ConfigStoreDriver,
  ElectionOptions,
  LeaderElection,
  LockHandle,
  LockOptions,
  RawEntry,
  RawEvent,
  RawHistoryEntry,
  Revision,
  WatchTarget,
  WriteResult,
} from './config-store.js'
import { type ConfigStoreOptions, DerivedConfigStore } from './derived-config-store.js'
import { acquireLock, type LeaseGrant, type LeaseSource, QueueElection } from './lease-queue.js'
import { type Batch, MemoryConfigBackend } from './memory-config-backend.js'
import { checkWriteSize, DEFAULT_MAX_REQUEST_BYTES } from './request-size.js'

const matches = (target: WatchTarget, key: string): boolean =>
  typeof target === 'string' ? key === target : key.startsWith(target.prefix)

/** The driver of `MemoryConfigStore`: one client of a backend. */
export class MemoryConfigDriver implements ConfigStoreDriver, LeaseSource {
  readonly kind = 'memory'
  readonly #elections = new Set<QueueElection>()
  readonly #leases = new Set<string>()
  readonly #ns: string
  readonly #maxRequestBytes: number
  readonly #watchers = new Set<Subscriber<RawEvent>>()
  #closed = false

  constructor(
    readonly backend: MemoryConfigBackend,
    namespace = '',
    readonly link: MemoryLink = new MemoryLink(),
    maxRequestBytes = DEFAULT_MAX_REQUEST_BYTES,
  ) {
    this.#ns = normalizeNamespace(namespace)
    this.#maxRequestBytes = maxRequestBytes
  }

  get #up(): boolean {
    return this.backend.up && this.link.up
  }

  #in(key: string): string {
    return this.#ns + key
  }

  #out(entry: RawEntry): RawEntry {
    return { ...entry, key: entry.key.slice(this.#ns.length) }
  }

  #check(operation: string): void {
    if (this.#closed)
      throw new TransportClosedError(operation, { context: { transport: 'memory config store' } })
    if (!this.#up) {
      throw new BrokerUnavailableError(
        'memory config store',
        'in-process',
        'the backend is stopped or the link cut (simulated outage)',
        {
          context: { operation },
        },
      )
    }
  }

  async get(key: string): Promise<RawEntry | undefined> {
    this.#check('get')
    const entry = this.backend.read(this.#in(key))
    return entry && this.#out(entry)
  }

  async list(prefix: string): Promise<readonly RawEntry[]> {
    this.#check('list')
    return this.backend
      .range(this.#in(prefix))
      .map((e) => this.#out(e))
      .filter((e) => !e.key.startsWith('__') || prefix.startsWith('__'))
  }

  #write(
    key: string,
    value: string | undefined,
    options: { readonly expectedRevision?: Revision; readonly audit: AuditInfo },
  ): WriteResult | undefined {
    this.#check(value === undefined ? 'delete' : 'put')
    const current = this.backend.read(this.#in(key))
    const actual = current?.revision ?? '0'
    if (options.expectedRevision !== undefined && options.expectedRevision !== actual) {
      throw new RevisionConflictError(key, options.expectedRevision, current?.revision)
    }
    if (value === undefined && current === undefined) return undefined
    const previousRevision = current?.revision
    const action = value === undefined ? 'delete' : 'put'
    const audit = auditValue(action, options.audit, previousRevision)
    if (value !== undefined)
      checkWriteSize(key, value, audit, this.#maxRequestBytes, 'memory store', this.#in(key))
    const revision = this.backend.commit([
      value === undefined
        ? { type: 'delete', key: this.#in(key) }
        : { type: 'put', key: this.#in(key), value },
      {
        type: 'put',
        key: this.#in(auditKey(key)),
        value: audit,
      },
    ])
    return { revision: String(revision), previousRevision }
  }

  async put(
    key: string,
    value: string,
    options: { readonly expectedRevision?: Revision; readonly audit: AuditInfo },
  ) {
    const result = this.#write(key, value, options)
    if (result === undefined) throw new Error('unreachable: a put always changes the store')
    return result
  }

  async delete(key: string, options: { readonly expectedRevision?: Revision; readonly audit: AuditInfo }) {
    return this.#write(key, undefined, options)
  }

  watch$(target: WatchTarget): Observable<RawEvent> {
    return new Observable<RawEvent>((subscriber) => {
      this.#watchers.add(subscriber)
      let lastSeen: bigint | undefined
      const full: WatchTarget =
        typeof target === 'string' ? this.#in(target) : { prefix: this.#in(target.prefix) }
      const deliver = (batch: Batch): void => {
        if (!this.#up || lastSeen === undefined || batch.revision <= lastSeen) return
        lastSeen = batch.revision
        for (const event of batch.events) {
          if (event.type === 'put' && matches(full, event.entry.key)) {
            subscriber.next({ type: 'put', entry: this.#out(event.entry) })
          } else if (event.type === 'delete' && matches(full, event.key)) {
            subscriber.next({ ...event, key: event.key.slice(this.#ns.length) })
          }
        }
      }
      const start = (): void => {
        if (this.#closed) {
          subscriber.error(new TransportClosedError('watch', { context: { transport: 'memory' } }))
          return
        }
        lastSeen = this.backend.revision
        const entries = (
          typeof full === 'string'
            ? [this.backend.read(full)].filter((e): e is RawEntry => e !== undefined)
            : this.backend.range(full.prefix)
        ).map((e) => this.#out(e))
        subscriber.next({ type: 'snapshot', entries, revision: lastSeen.toString(), stale: false })
      }
      const offCommit = this.backend.onCommit(deliver)
      const onUp = (): void => {
        if (!this.#up) return
        if (lastSeen === undefined) start()
        else for (const batch of this.backend.batchesAfter(lastSeen)) deliver(batch)
      }
      const offAvailability = this.backend.onAvailability(onUp)
      const offLink = this.link.onChange(onUp)
      if (this.#up) start()
      return () => {
        this.#watchers.delete(subscriber)
        offCommit()
        offAvailability()
        offLink()
      }
    })
  }

  async history(key: string): Promise<readonly RawHistoryEntry[]> {
    this.#check('history')
    const audits = new Map(this.backend.versions(this.#in(auditKey(key))).map((v) => [v.revision, v.value]))
    return this.backend.versions(this.#in(key)).map((v) => {
      const revision = v.revision.toString()
      const audit = parseAudit(audits.get(v.revision), revision)
      return {
        key,
        revision,
        action: v.value === undefined ? ('delete' as const) : ('put' as const),
        ...(v.value === undefined ? {} : { value: v.value }),
        ...(audit === undefined ? {} : { audit }),
      }
    })
  }

  async grant(ttlSeconds: number): Promise<LeaseGrant> {
    this.#check('grant a lease')
    const backend = this.backend
    const id = backend.grantLease(ttlSeconds)
    this.#leases.add(id)
    const keepAlive = setInterval(
      () => {
        if (this.link.up) backend.keepAlive(id)
      },
      Math.max(100, (ttlSeconds * 1000) / 3),
    )
    keepAlive.unref()
    const lost$ = new Observable<LeaseLostError>((subscriber) => {
      if (!backend.hasLease(id)) {
        subscriber.next(new LeaseLostError(`memory lease ${id}`))
        return subscriber.complete()
      }
      return backend.onLeaseLost(id, () => {
        subscriber.next(new LeaseLostError(`memory lease ${id}`))
        subscriber.complete()
      })
    })
    return {
      id,
      lost$,
      attach: async (key, value) => {
        this.#check('attach a key to a lease')
        if (!backend.hasLease(id)) throw new LeaseLostError(`memory lease ${id}`)
        const existing = backend.read(this.#in(key))
        if (existing) throw new RevisionConflictError(key, '0', existing.revision)
        return String(backend.commit([{ type: 'put', key: this.#in(key), value, lease: id }]))
      },
      revoke: async () => {
        clearInterval(keepAlive)
        this.#leases.delete(id)
        backend.revokeLease(id)
      },
    }
  }

  lock(name: string, options: LockOptions): Promise<LockHandle> {
    this.#check('lock')
    return acquireLock(this, name, lockPrefix(name), options)
  }

  election(name: string, options: ElectionOptions): LeaderElection {
    this.#check('election')
    const election = new QueueElection(this, name, electionPrefix(name), options)
    this.#elections.add(election)
    return election
  }

  async close(): Promise<void> {
    if (this.#closed) return
    await Promise.all([...this.#elections].map((e) => e.close()))
    for (const id of this.#leases) this.backend.revokeLease(id)
    this.#leases.clear()
    this.#closed = true
    for (const watcher of [...this.#watchers]) watcher.complete()
  }
}

export interface MemoryConfigStoreOptions extends ConfigStoreOptions {
  /** Share a backend between stores to model several clients of one server (default: a new one). */
  readonly backend?: MemoryConfigBackend
  /** This client's connection; cut it to simulate a network partition of this store alone. */
  readonly link?: MemoryLink
  /**
   * Largest write accepted, in bytes (default 1,572,864: etcd's default `--max-request-bytes`),
   * so a value too big for etcd is refused here too, with the same `ConfigError`.
   */
  readonly maxRequestBytes?: number
}

/**
 * The simulated network link of one or more `MemoryConfigStore`s: `cut()` makes them see an
 * outage (reads stale, writes fail, watchers paused, lease keep-alives stop) while other clients
 * of the backend go on; `heal()` reconnects them and watchers resume from where they were.
 */
export class MemoryLink {
  #up = true
  readonly #listeners = new Set<() => void>()

  get up(): boolean {
    return this.#up
  }

  cut(): void {
    this.#up = false
  }

  heal(): void {
    if (this.#up) return
    this.#up = true
    for (const l of [...this.#listeners]) l()
  }

  onChange(listener: () => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }
}

/**
 * An in-process `ConfigStore` with etcd's semantics.
 *
 * @example
 * const backend = new MemoryConfigBackend()
 * const a = new MemoryConfigStore({ backend, author: 'a' })
 * const b = new MemoryConfigStore({ backend, author: 'b' }) // a second client of the same "server"
 */
export class MemoryConfigStore extends DerivedConfigStore {
  readonly backend: MemoryConfigBackend

  constructor(options: MemoryConfigStoreOptions = {}) {
    const backend = options.backend ?? new MemoryConfigBackend()
    super(
      new MemoryConfigDriver(backend, options.namespace ?? '', options.link, options.maxRequestBytes),
      options,
    )
    this.backend = backend
  }
}
