/**
 * `EtcdConfigStore`: the `ConfigStore` on etcd v3 through the etcd3 client.
 *
 * This module maps the driver primitives onto etcd: a write is one transaction that puts the
 * change and its audit record together (compared on the key's mod revision only when the caller
 * asked for compare-and-swap: a plain write is a plain put and never conflicts); history walks the audit key's
 * MVCC versions; watches take a snapshot, then watch from its revision + 1 and, after any
 * disconnect, resume from the last revision *delivered* + 1 (etcd3's own resume point can run
 * ahead of what was delivered), dropping anything already seen. Every unary call is bounded in
 * time so writes fail fast with `BrokerUnavailableError` while etcd is down. Values, secrets,
 * sections and namespaces are handled by `DerivedConfigStore`.
 */
import './long-support.js'
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
} from '@switchyard/config'
import {
  acquireLock,
  auditKey,
  auditValue,
  type ConfigStoreOptions,
  checkWriteSize,
  DEFAULT_MAX_REQUEST_BYTES,
  DerivedConfigStore,
  electionPrefix,
  type LeaseGrant,
  type LeaseSource,
  lockPrefix,
  normalizeNamespace,
  parseAudit,
  QueueElection,
  valueTooLargeError,
  writeRequestBytes,
} from '@switchyard/config/spi'
import { ConfigError, LeaseLostError, RevisionConflictError, TransportClosedError } from '@switchyard/core'
import { ConstantBackoff, ExponentialBackoff, handleWhen, type IBackoff, noop, retry } from 'cockatiel'
import {
  CompareResult,
  CompareTarget,
  Etcd3,
  type IKeyValue,
  type IRequestOp,
  isRecoverableError,
  type KVClient,
  type Namespace,
  type Watcher,
} from 'etcd3'
import { Observable, ReplaySubject, type Subscriber } from 'rxjs'
import { bounded, isCompacted, isRequestTooLarge, mapEtcdError } from './errors.js'

/** Options of {@link EtcdConfigStore}. */
export interface EtcdConfigStoreOptions extends ConfigStoreOptions {
  /** etcd endpoints with scheme, e.g. `['http://127.0.0.1:2379']`. */
  readonly endpoints: readonly string[]
  /** Username and password, for an etcd with authentication enabled. */
  readonly auth?: { readonly username: string; readonly password: string }
  /** TLS material, passed through to gRPC (`rootCertificate`, optional client `privateKey`/`certChain`). */
  readonly credentials?: {
    readonly rootCertificate: Buffer
    readonly privateKey?: Buffer
    readonly certChain?: Buffer
  }
  /**
   * Key prefix of this app, e.g. `'/apps/billing/'`; every key, lock and audit record lives under
   * it. A missing trailing `/` is added.
   */
  readonly namespace?: string
  /**
   * The server's `--max-request-bytes` (default 1,572,864, etcd's default). A write bigger than
   * this (value, key and audit record) is refused with `ConfigError` before it is sent.
   */
  readonly maxRequestBytes?: number
  /** How long to wait for a connection, in ms (default 3,000). */
  readonly dialTimeout?: number
  /** Upper bound of each read or write, in ms (default 3,000): how fast an outage is reported. */
  readonly operationTimeoutMs?: number
  /** Most past changes `history()` returns (default 100). */
  readonly historyLimit?: number
}

const toEntry = (key: string, kv: IKeyValue): RawEntry => ({
  key,
  value: kv.value.toString('utf8'),
  revision: kv.mod_revision,
  createRevision: kv.create_revision,
  stale: false,
})

/** `new Etcd3(options)`; TLS material it refuses (a key that does not fit its certificate) becomes a `TlsError`. */
function newClient(options: ConstructorParameters<typeof Etcd3>[0]): Etcd3 {
  try {
    return new Etcd3(options)
  } catch (error) {
    throw mapEtcdError(error, 'connect', (options?.hosts as string[] | undefined)?.join(',') ?? 'etcd')
  }
}

/** The etcd driver; see the module header. */
export class EtcdConfigDriver implements ConfigStoreDriver, LeaseSource {
  readonly kind = 'etcd'
  readonly client: Etcd3
  readonly kv: Namespace
  readonly #endpoint: string
  readonly #timeoutMs: number
  readonly #historyLimit: number
  readonly #elections = new Set<QueueElection>()
  readonly #grants = new Set<LeaseGrant>()
  readonly #watchers = new Set<Subscriber<RawEvent>>()
  readonly #maxRequestBytes: number
  #closed = false

  constructor(options: EtcdConfigStoreOptions) {
    checkOptions(options)
    this.#maxRequestBytes = options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES
    this.#endpoint = options.endpoints.join(',')
    this.#timeoutMs = options.operationTimeoutMs ?? 3000
    this.#historyLimit = options.historyLimit ?? 100
    this.client = newClient({
      hosts: [...options.endpoints],
      dialTimeout: options.dialTimeout ?? 3000,
      // Reconnect within a second or two once etcd is back (gRPC's default backoff grows to minutes).
      grpcOptions: { 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 1000 },
      ...(options.auth ? { auth: { username: options.auth.username, password: options.auth.password } } : {}),
      ...(options.credentials ? { credentials: { ...options.credentials } } : {}),
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + this.#timeoutMs }),
      faultHandling: {
        // Our own bound and the caller's retry decide; no circuit breaker that outlives an outage.
        host: () => noop,
        global: retry(handleWhen(isRecoverableError), { maxAttempts: 1, backoff: new ConstantBackoff(50) }),
        // etcd3 calls `.next()` on it itself, which its typings do not say.
        watchBackoff: new ExponentialBackoff({
          initialDelay: 100,
          maxDelay: 2000,
        }) as unknown as IBackoff<unknown>,
      },
    })
    const namespace = normalizeNamespace(options.namespace)
    this.kv = namespace ? this.client.namespace(namespace) : this.client
  }

  #call<T>(operation: string, run: () => Promise<T>): Promise<T> {
    if (this.#closed)
      return Promise.reject(new TransportClosedError(operation, { context: { transport: 'etcd' } }))
    return bounded(run(), this.#timeoutMs, operation, this.#endpoint)
  }

  get(key: string): Promise<RawEntry | undefined> {
    return this.#call('get', async () => {
      const kv = (await this.kv.get(key).exec()).kvs[0]
      return kv === undefined ? undefined : toEntry(key, kv)
    })
  }

  list(prefix: string): Promise<readonly RawEntry[]> {
    return this.#call('list', async () => {
      const res = await this.kv.getAll().prefix(prefix).sort('Key', 'Ascend').exec()
      return res.kvs
        .map((kv) => toEntry(kv.key.toString('utf8'), kv))
        .filter((e) => !e.key.startsWith('__') || prefix.startsWith('__'))
    })
  }

  /** The key as etcd stores it (with the namespace), for raw requests. */
  #raw(key: string): Buffer {
    return Buffer.concat([this.kv.prefix, Buffer.from(key)])
  }

  async #write(
    key: string,
    value: string | undefined,
    options: { readonly expectedRevision?: Revision; readonly audit: AuditInfo },
  ): Promise<WriteResult | undefined> {
    const action = value === undefined ? 'delete' : 'put'
    const expected = options.expectedRevision
    // With compare-and-swap the previous revision is known and goes into the audit record; a
    // plain write does not know it (history reads it back from the key's MVCC versions).
    const audit = auditValue(
      action,
      options.audit,
      expected === undefined || expected === '0' ? undefined : expected,
    )
    if (value !== undefined)
      checkWriteSize(key, value, audit, this.#maxRequestBytes, 'etcd', this.#raw(key).toString('utf8'))
    const change: IRequestOp =
      value === undefined
        ? { request_delete_range: { key: this.#raw(key), prev_kv: true } }
        : { request_put: { key: this.#raw(key), value: Buffer.from(value), prev_kv: true } }
    const auditOp: IRequestOp = { request_put: { key: this.#raw(auditKey(key)), value: Buffer.from(audit) } }
    const raw = this.#raw(key)
    const compare = [
      ...(expected === undefined
        ? []
        : [{ key: raw, target: CompareTarget.Mod, result: CompareResult.Equal, mod_revision: expected }]),
      // A delete of an absent key changes nothing and writes no audit record.
      ...(value === undefined
        ? [{ key: raw, target: CompareTarget.Version, result: CompareResult.Greater, version: 0 }]
        : []),
    ]
    const stored = raw.toString('utf8')
    return this.#call(action, async () => {
      let txn: Awaited<ReturnType<KVClient['txn']>>
      try {
        txn = await this.kv.kv.txn({
          compare,
          success: [change, auditOp],
          failure: [{ request_range: { key: raw } }],
        })
      } catch (error) {
        if (value !== undefined && isRequestTooLarge(error)) {
          throw valueTooLargeError(
            key,
            writeRequestBytes(stored, value, audit),
            this.#maxRequestBytes,
            'etcd',
          )
        }
        throw error
      }
      if (!txn.succeeded) {
        const actual = txn.responses[0]?.response_range?.kvs[0]?.mod_revision
        if (value === undefined && actual === undefined && (expected === undefined || expected === '0')) {
          return undefined // nothing to delete, as the caller expected
        }
        throw new RevisionConflictError(key, expected ?? 'any', actual)
      }
      const first = txn.responses[0]
      const previous =
        value === undefined ? first?.response_delete_range?.prev_kvs[0] : first?.response_put?.prev_kv
      const previousRevision = previous?.mod_revision
      if (value === undefined && previousRevision === undefined) return undefined
      return { revision: txn.header.revision, previousRevision }
    })
  }

  async put(
    key: string,
    value: string,
    options: { readonly expectedRevision?: Revision; readonly audit: AuditInfo },
  ) {
    const result = await this.#write(key, value, options)
    if (result === undefined) throw new Error('unreachable: a put always writes')
    return result
  }

  delete(key: string, options: { readonly expectedRevision?: Revision; readonly audit: AuditInfo }) {
    return this.#write(key, undefined, options)
  }

  watch$(target: WatchTarget): Observable<RawEvent> {
    return new Observable<RawEvent>((subscriber) => {
      if (this.#closed) {
        subscriber.error(new TransportClosedError('watch', { context: { transport: 'etcd' } }))
        return
      }
      this.#watchers.add(subscriber)
      let stopped = false
      let watcher: Watcher | undefined
      let lastSeen = 0n
      let seenAtLast = new Set<string>()
      let retryDelay = 100
      let cancelDelay = 0

      const emit = (type: 'put' | 'delete', kv: IKeyValue): void => {
        const revision = BigInt(kv.mod_revision)
        const key = kv.key.toString('utf8')
        if (revision < lastSeen || (revision === lastSeen && seenAtLast.has(key))) return // already delivered
        if (revision > lastSeen) {
          lastSeen = revision
          seenAtLast = new Set()
        }
        seenAtLast.add(key)
        cancelDelay = 0
        subscriber.next(
          type === 'put' ? { type, entry: toEntry(key, kv) } : { type, key, revision: kv.mod_revision },
        )
      }

      const start = async (): Promise<void> => {
        if (stopped) return
        let snapshot: { entries: RawEntry[]; revision: string }
        try {
          snapshot = await this.#call('watch', async () => {
            const res =
              typeof target === 'string'
                ? await this.kv.get(target).exec()
                : await this.kv.getAll().prefix(target.prefix).sort('Key', 'Ascend').exec()
            const entries = res.kvs.map((kv) =>
              toEntry(typeof target === 'string' ? target : kv.key.toString(), kv),
            )
            return { entries, revision: res.header.revision }
          })
        } catch (error) {
          if (stopped) return
          if ((error as Error).name === 'BrokerUnavailableError') {
            setTimeout(() => void start(), retryDelay).unref()
            retryDelay = Math.min(retryDelay * 2, 2000)
            return
          }
          return subscriber.error(error)
        }
        if (stopped) return
        retryDelay = 100
        lastSeen = BigInt(snapshot.revision)
        seenAtLast = new Set()
        subscriber.next({
          type: 'snapshot',
          entries: snapshot.entries,
          revision: snapshot.revision,
          stale: false,
        })
        // The subscriber may have unsubscribed (or closed the store) while handling the snapshot.
        if (stopped) return
        const builder = this.kv.watch().startRevision((lastSeen + 1n).toString())
        const w = (typeof target === 'string' ? builder.key(target) : builder.prefix(target.prefix)).watcher()
        watcher = w
        w.on('put', (kv) => emit('put', kv))
        w.on('delete', (kv) => emit('delete', kv))
        w.on('disconnected', () => {
          // etcd3 resumes from the last *header* revision it saw, which can be ahead of the
          // events delivered; resume from what we delivered instead (duplicates are dropped).
          w.request.start_revision = (lastSeen + 1n).toString()
        })
        w.on('error', (error: Error) => {
          void w.cancel().catch(() => undefined)
          if (stopped) return
          const mapped = mapEtcdError(error, 'watch', this.#endpoint)
          if (mapped.name === 'AuthenticationError') return subscriber.error(mapped)
          // etcd cancelled the watch. The usual reason is that the revision we resume from was
          // compacted away (etcd3 drops the reason), so nothing can be replayed: start over with
          // a fresh snapshot, after a growing pause in case the cancel repeats.
          watcher = undefined
          setTimeout(() => void start(), cancelDelay).unref()
          cancelDelay = Math.min(Math.max(100, cancelDelay * 2), 5000)
        })
      }

      void start()
      return () => {
        stopped = true
        this.#watchers.delete(subscriber)
        void watcher?.cancel().catch(() => undefined)
      }
    })
  }

  history(key: string): Promise<readonly RawHistoryEntry[]> {
    return this.#call('history', async () => {
      const out: RawHistoryEntry[] = []
      let at: string | undefined
      while (out.length < this.#historyLimit) {
        let kv: IKeyValue | undefined
        try {
          const builder = this.kv.get(auditKey(key))
          kv = (await (at === undefined ? builder : builder.revision(at)).exec()).kvs[0]
        } catch (error) {
          if (isCompacted(error)) break // older changes were compacted away
          throw error
        }
        if (kv === undefined) break
        const revision = kv.mod_revision
        let audit = parseAudit(kv.value.toString('utf8'), revision)
        if (audit !== undefined && audit.previousRevision === undefined && BigInt(revision) > 1n) {
          // A plain write records no previous revision: the key's version just before says it
          // (unless that revision was compacted away: then it stays unknown).
          const before = await this.kv
            .get(key)
            .revision((BigInt(revision) - 1n).toString())
            .exec()
            .then((res) => res.kvs[0])
            .catch((error: unknown) => {
              if (isCompacted(error)) return undefined
              throw error
            })
          if (before !== undefined) audit = { ...audit, previousRevision: before.mod_revision }
        }
        let value: string | undefined
        if (audit?.action !== 'delete') {
          const past = (await this.kv.get(key).revision(revision).exec()).kvs[0]
          if (past !== undefined && past.mod_revision === revision) value = past.value.toString('utf8')
        }
        out.unshift({
          key,
          revision,
          action: value === undefined ? 'delete' : 'put',
          ...(value === undefined ? {} : { value }),
          ...(audit === undefined ? {} : { audit }),
        })
        if (BigInt(revision) <= 1n) break
        at = (BigInt(revision) - 1n).toString()
      }
      return out
    })
  }

  async grant(ttlSeconds: number): Promise<LeaseGrant> {
    const lease = this.kv.lease(ttlSeconds, { autoKeepAlive: true })
    const lost = new ReplaySubject<LeaseLostError>(1)
    let lastAlive = Date.now()
    let lostReported = false
    const declareLost = (cause: unknown): void => {
      if (lostReported) return
      lostReported = true
      clearInterval(watchdog)
      lost.next(new LeaseLostError(`etcd lease ${id}`, { cause }))
      lost.complete()
      lease.release()
    }
    let id = ''
    lease.on('keepaliveSucceeded', () => {
      lastAlive = Date.now()
    })
    lease.on('lost', (cause) => declareLost(cause))
    // etcd3 reports a loss only after twice the TTL; etcd may expire the lease after one TTL
    // without a renewal, so another holder may already be in. Report it then.
    const watchdog = setInterval(
      () => {
        if (Date.now() - lastAlive > ttlSeconds * 1000)
          declareLost(new Error(`no keep-alive for ${ttlSeconds} s`))
      },
      Math.min(500, (ttlSeconds * 1000) / 4),
    )
    watchdog.unref()
    try {
      id = await this.#call('grant a lease', () => lease.grant())
      lastAlive = Date.now()
    } catch (error) {
      clearInterval(watchdog)
      lease.release()
      throw error
    }
    const lost$ = lost.asObservable()
    const grant: LeaseGrant = {
      id,
      lost$,
      attach: (key, value) =>
        this.#call('attach a key to a lease', async () => {
          const txn = await this.kv.if(key, 'Create', '==', 0).then(lease.put(key).value(value)).commit()
          if (!txn.succeeded) throw new RevisionConflictError(key, '0', undefined)
          return txn.header.revision
        }),
      revoke: async () => {
        this.#grants.delete(grant)
        clearInterval(watchdog)
        lostReported = true
        lost.complete()
        if (lease.revoked()) return
        await bounded(lease.revoke(), this.#timeoutMs, 'revoke a lease', this.#endpoint).catch(() =>
          lease.release(),
        )
      },
    }
    this.#grants.add(grant)
    return grant
  }

  lock(name: string, options: LockOptions): Promise<LockHandle> {
    return acquireLock(this, name, lockPrefix(name), options)
  }

  election(name: string, options: ElectionOptions): LeaderElection {
    const election = new QueueElection(this, name, electionPrefix(name), options)
    this.#elections.add(election)
    return election
  }

  async close(): Promise<void> {
    if (this.#closed) return
    await Promise.all([...this.#elections].map((e) => e.close()))
    await Promise.all([...this.#grants].map((g) => g.revoke().catch(() => undefined)))
    this.#closed = true
    // Complete every watch still open (its teardown cancels the etcd watcher), then close the
    // channel: nothing is left to keep the process alive.
    for (const watcher of [...this.#watchers]) watcher.complete()
    this.client.close()
  }
}

/** Refuses options etcd3 would fail on later with an untyped error. */
function checkOptions(options: EtcdConfigStoreOptions): void {
  const issues: string[] = []
  const endpoints: unknown = options.endpoints
  if (!Array.isArray(endpoints) || endpoints.length === 0) {
    issues.push("endpoints: give at least one etcd URL, e.g. ['http://127.0.0.1:2379']")
  } else {
    endpoints.forEach((endpoint: unknown, i) => {
      if (typeof endpoint !== 'string' || !/^https?:\/\/[^/\s]+/.test(endpoint)) {
        issues.push(
          `endpoints[${i}]: ${JSON.stringify(endpoint)} is not an etcd URL like 'http://127.0.0.1:2379'`,
        )
      }
    })
  }
  const limit = options.maxRequestBytes
  if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) {
    issues.push(`maxRequestBytes: must be a whole number of bytes above 0 (got ${String(limit)})`)
  }
  if (issues.length > 0) {
    const field = issues[0]?.split(':')[0] ?? ''
    throw new ConfigError('etcd config store options', issues, { context: { field } })
  }
}

/**
 * A `ConfigStore` on etcd. The raw etcd3 client is available as `store.client` (escape hatch).
 *
 * @example
 * const store = new EtcdConfigStore({
 *   endpoints: ['http://127.0.0.1:2379'],
 *   namespace: '/apps/billing/',
 *   author: 'deploy-bot',
 *   secrets: { current: { id: 'k2026', key: keyBytes } },
 * })
 */
export class EtcdConfigStore extends DerivedConfigStore {
  readonly client: Etcd3

  constructor(options: EtcdConfigStoreOptions) {
    const driver = new EtcdConfigDriver(options)
    super(driver, options)
    this.client = driver.client
  }
}
