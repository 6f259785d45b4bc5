/**
 * The in-process "server" behind `MemoryConfigStore`: an MVCC key space with etcd's rules.
 *
 * One store-wide revision counter; every committed transaction is one revision and one batch in a
 * change log (kept whole, so watchers can resume from any revision and history is never
 * compacted); keys remember every version; leases with TTLs delete their keys on expiry. It can be
 * stopped and started like a server, to test outages: while stopped every call fails and leases
 * are frozen (etcd also extends leases across a restart). Not an etcd emulator beyond that.
 */
import type { RawEntry, RawEvent } from './config-store.js'

/** One stored version of a key; `value === undefined` marks a delete. */
export interface Version {
  readonly revision: bigint
  readonly createRevision: bigint
  readonly value: string | undefined
  readonly lease: string | undefined
}

/** All events of one revision. */
export interface Batch {
  readonly revision: bigint
  readonly events: readonly RawEvent[]
}

/** One write of a transaction. */
export type Op =
  | { readonly type: 'put'; readonly key: string; readonly value: string; readonly lease?: string }
  | { readonly type: 'delete'; readonly key: string }

interface Lease {
  readonly id: string
  readonly ttlMs: number
  expiresAt: number
  readonly keys: Set<string>
  readonly onLost: Set<() => void>
}

/** See the module header. Share one backend between several `MemoryConfigStore`s to model several clients. */
export class MemoryConfigBackend {
  #revision = 0n
  readonly #versions = new Map<string, Version[]>()
  readonly #log: Batch[] = []
  readonly #listeners = new Set<(batch: Batch) => void>()
  readonly #availability = new Set<(up: boolean) => void>()
  readonly #leases = new Map<string, Lease>()
  readonly #pending: Batch[] = []
  #draining = false
  #up = true
  #nextLease = 1
  readonly #sweeper: NodeJS.Timeout

  constructor() {
    this.#sweeper = setInterval(() => this.#expireLeases(), 50)
    this.#sweeper.unref()
  }

  get up(): boolean {
    return this.#up
  }

  get revision(): bigint {
    return this.#revision
  }

  /** Simulates the server going down: every call fails until `start()`. */
  stop(): void {
    if (!this.#up) return
    this.#up = false
    for (const l of this.#availability) l(false)
  }

  /** Brings the server back; leases get a full TTL again, as etcd does after a restart. */
  start(): void {
    if (this.#up) return
    this.#up = true
    const now = Date.now()
    for (const lease of this.#leases.values()) lease.expiresAt = now + lease.ttlMs
    for (const l of this.#availability) l(true)
  }

  onAvailability(listener: (up: boolean) => void): () => void {
    this.#availability.add(listener)
    return () => this.#availability.delete(listener)
  }

  /** Listens to committed batches, in revision order. */
  onCommit(listener: (batch: Batch) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /** Batches after `revision`, oldest first. */
  batchesAfter(revision: bigint): readonly Batch[] {
    return this.#log.filter((b) => b.revision > revision)
  }

  /** The latest version of `key` at or before `revision` (default now), unless deleted. */
  read(key: string, revision = this.#revision): RawEntry | undefined {
    const versions = this.#versions.get(key)
    if (!versions) return undefined
    for (let i = versions.length - 1; i >= 0; i--) {
      const v = versions[i]
      if (v === undefined || v.revision > revision) continue
      return v.value === undefined ? undefined : toEntry(key, v)
    }
    return undefined
  }

  /** Every version of `key`, oldest first. */
  versions(key: string): readonly Version[] {
    return this.#versions.get(key) ?? []
  }

  /** Current entries under `prefix`, in key order. */
  range(prefix: string): RawEntry[] {
    const out: RawEntry[] = []
    for (const key of [...this.#versions.keys()].sort()) {
      if (!key.startsWith(prefix)) continue
      const entry = this.read(key)
      if (entry) out.push(entry)
    }
    return out
  }

  /** Applies `ops` atomically as one revision; returns it (or `undefined` if nothing changed). */
  commit(ops: readonly Op[]): bigint | undefined {
    const events: RawEvent[] = []
    const revision = this.#revision + 1n
    for (const op of ops) {
      const versions = this.#versions.get(op.key) ?? []
      const last = versions[versions.length - 1]
      const exists = last !== undefined && last.value !== undefined
      if (op.type === 'delete') {
        if (!exists) continue
        if (last.lease) this.#leases.get(last.lease)?.keys.delete(op.key)
        versions.push({ revision, createRevision: 0n, value: undefined, lease: undefined })
        events.push({ type: 'delete', key: op.key, revision: revision.toString() })
      } else {
        const version: Version = {
          revision,
          createRevision: exists ? last.createRevision : revision,
          value: op.value,
          lease: op.lease,
        }
        if (op.lease) this.#leases.get(op.lease)?.keys.add(op.key)
        versions.push(version)
        events.push({ type: 'put', entry: toEntry(op.key, version) })
      }
      this.#versions.set(op.key, versions)
    }
    if (events.length === 0) return undefined
    this.#revision = revision
    const batch = { revision, events }
    this.#log.push(batch)
    this.#pending.push(batch)
    this.#drain()
    return revision
  }

  #drain(): void {
    if (this.#draining) return
    this.#draining = true
    try {
      for (let batch = this.#pending.shift(); batch; batch = this.#pending.shift()) {
        for (const l of [...this.#listeners]) l(batch)
      }
    } finally {
      this.#draining = false
    }
  }

  grantLease(ttlSeconds: number): string {
    const id = `${(this.#nextLease++).toString(16)}${Math.random().toString(16).slice(2, 8)}`
    const ttlMs = Math.max(1, ttlSeconds) * 1000
    this.#leases.set(id, { id, ttlMs, expiresAt: Date.now() + ttlMs, keys: new Set(), onLost: new Set() })
    return id
  }

  keepAlive(id: string): boolean {
    const lease = this.#leases.get(id)
    if (!lease || !this.#up) return false
    lease.expiresAt = Date.now() + lease.ttlMs
    return true
  }

  hasLease(id: string): boolean {
    return this.#leases.has(id)
  }

  onLeaseLost(id: string, listener: () => void): () => void {
    this.#leases.get(id)?.onLost.add(listener)
    return () => this.#leases.get(id)?.onLost.delete(listener)
  }

  /** Revokes a lease: its keys are deleted in one revision. */
  revokeLease(id: string, expired = false): void {
    const lease = this.#leases.get(id)
    if (!lease) return
    this.#leases.delete(id)
    this.commit([...lease.keys].map((key) => ({ type: 'delete' as const, key })))
    if (expired) for (const l of lease.onLost) l()
  }

  #expireLeases(): void {
    if (!this.#up) return
    const now = Date.now()
    for (const lease of [...this.#leases.values()])
      if (lease.expiresAt <= now) this.revokeLease(lease.id, true)
  }

  /** Stops the lease sweeper (tests that create many backends). */
  dispose(): void {
    clearInterval(this.#sweeper)
  }
}

function toEntry(key: string, v: Version): RawEntry {
  return {
    key,
    value: v.value ?? '',
    revision: v.revision.toString(),
    createRevision: v.createRevision.toString(),
    stale: false,
  }
}
