/**
 * Distributed locks and leader election on leases, shared by every driver.
 *
 * The classic etcd recipe: each contender puts `<prefix><leaseId>` bound to its own lease; the
 * key with the lowest create revision holds the lock (or leads). Contenders wait by watching the
 * prefix (resuming from the last revision seen, so no release is missed) until their key is the
 * lowest, with a timeout and an `AbortSignal`. A crashed holder's lease expires after its TTL,
 * which deletes its key and lets the next one in. A lost lease is reported on `lost$`/`errors$`.
 *
 * This module knows nothing about etcd3 or memory: drivers supply a {@link LeaseSource}.
 */

import {
  CancelledError,
  ConfigError,
  LeaseLostError,
  TimeoutError,
  TransportClosedError,
} from '@switchyard/core'
import { BehaviorSubject, type Observable, ReplaySubject, Subject, Subscription } from 'rxjs'
import type {
  ElectionOptions,
  LeaderElection,
  LeaderState,
  LockHandle,
  LockOptions,
  RawEvent,
  Revision,
  WatchTarget,
} from './config-store.js'
import { trackLease } from './exit-hooks.js'

/** A granted lease, kept alive by the driver until revoked or lost. */
export interface LeaseGrant {
  readonly id: string
  /** Creates `key` bound to this lease (fails if it exists); resolves its create revision. */
  attach(key: string, value: string): Promise<Revision>
  /** Revokes the lease (its keys disappear). Best effort when the store is unreachable. */
  revoke(): Promise<void>
  /** Emits once if the lease is lost (expired or revoked by someone else). */
  readonly lost$: Observable<LeaseLostError>
}

/** What a driver supplies to get locks and elections. */
export interface LeaseSource {
  grant(ttlSeconds: number): Promise<LeaseGrant>
  watch$(target: WatchTarget): Observable<RawEvent>
}

interface Member {
  readonly createRevision: bigint
  readonly value: string
}

/** Keeps the members of a queue prefix from a watch stream. */
class Members {
  readonly map = new Map<string, Member>()
  apply(event: RawEvent): void {
    switch (event.type) {
      case 'snapshot':
        this.map.clear()
        for (const e of event.entries)
          this.map.set(e.key, { createRevision: BigInt(e.createRevision), value: e.value })
        break
      case 'put':
        this.map.set(event.entry.key, {
          createRevision: BigInt(event.entry.createRevision),
          value: event.entry.value,
        })
        break
      case 'delete':
        this.map.delete(event.key)
        break
    }
  }
  first(): [string, Member] | undefined {
    let best: [string, Member] | undefined
    for (const entry of this.map)
      if (best === undefined || entry[1].createRevision < best[1].createRevision) best = entry
    return best
  }
}

/**
 * Refuses lease options etcd would reject with an untyped error (or silently round): the TTL is a
 * whole number of seconds ≥ 1, a timeout a finite number of ms ≥ 0.
 */
export function checkLeaseOptions(
  what: string,
  options: { readonly ttlSeconds?: number; readonly timeoutMs?: number },
): void {
  const issues: string[] = []
  let field: string | undefined
  const { ttlSeconds, timeoutMs } = options
  if (ttlSeconds !== undefined && !(Number.isInteger(ttlSeconds) && ttlSeconds >= 1)) {
    issues.push(`ttlSeconds: must be a whole number of seconds, at least 1 (got ${String(ttlSeconds)})`)
    field = 'ttlSeconds'
  }
  if (timeoutMs !== undefined && !(Number.isFinite(timeoutMs) && timeoutMs >= 0)) {
    issues.push(`timeoutMs: must be a finite number of ms, at least 0 (got ${String(timeoutMs)})`)
    field ??= 'timeoutMs'
  }
  if (issues.length > 0)
    throw new ConfigError(`options of ${what}`, issues, { context: { field: field ?? '' } })
}

interface WaitOptions {
  readonly deadline?: number
  readonly timeoutMs?: number
  readonly signal?: AbortSignal
  readonly operation: string
}

/** Resolves when `myKey` is first in the queue under `prefix`; rejects on timeout, abort or lease loss. */
function waitForTurn(source: LeaseSource, grant: LeaseGrant, prefix: string, myKey: string, o: WaitOptions) {
  return new Promise<void>((resolve, reject) => {
    const subscription = new Subscription()
    let done = false
    const finish = (error?: Error): void => {
      if (done) return
      done = true
      subscription.unsubscribe()
      if (error) reject(error)
      else resolve()
    }
    if (o.deadline !== undefined) {
      const timer = setTimeout(
        () => finish(new TimeoutError(o.operation, o.timeoutMs ?? 0)),
        Math.max(0, o.deadline - Date.now()),
      )
      subscription.add(() => clearTimeout(timer))
    }
    if (o.signal) {
      const signal = o.signal
      const onAbort = (): void => finish(new CancelledError(o.operation, { cause: signal.reason }))
      if (signal.aborted) return onAbort()
      signal.addEventListener('abort', onAbort, { once: true })
      subscription.add(() => signal.removeEventListener('abort', onAbort))
    }
    subscription.add(grant.lost$.subscribe((error) => finish(error)))
    const members = new Members()
    subscription.add(
      source.watch$({ prefix }).subscribe({
        next: (event) => {
          members.apply(event)
          const first = members.first()
          if (first !== undefined && first[0] === myKey) finish()
        },
        error: (error: Error) => finish(error),
        // The store was closed while waiting: the wait can never end in a turn.
        complete: () =>
          finish(new TransportClosedError(o.operation, { context: { transport: 'config store' } })),
      }),
    )
  })
}

/** Takes a lock: waits its turn in the queue under `prefix`. */
export async function acquireLock(
  source: LeaseSource,
  name: string,
  prefix: string,
  options: LockOptions,
): Promise<LockHandle> {
  const operation = `Acquiring lock ${JSON.stringify(name)}`
  checkLeaseOptions(`lock ${JSON.stringify(name)}`, options)
  if (options.signal?.aborted) throw new CancelledError(operation, { cause: options.signal.reason })
  const deadline = options.timeoutMs === undefined ? undefined : Date.now() + options.timeoutMs
  const grant = await source.grant(options.ttlSeconds ?? 10)
  const untrack = trackLease(grant)
  const key = `${prefix}${grant.id}`
  try {
    await grant.attach(key, '')
    await waitForTurn(source, grant, prefix, key, {
      operation,
      ...(deadline === undefined ? {} : { deadline }),
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    })
  } catch (error) {
    untrack()
    await grant.revoke().catch(() => undefined)
    throw error
  }
  const lost = new ReplaySubject<LeaseLostError>(1)
  const lostSubscription = grant.lost$.subscribe((error) => {
    lost.next(error)
    lost.complete()
  })
  let released: Promise<void> | undefined
  return {
    name,
    lost$: lost.asObservable(),
    release: () => {
      released ??= (async () => {
        lostSubscription.unsubscribe()
        lost.complete()
        untrack()
        await grant.revoke()
      })()
      return released
    },
  }
}

/** Leader election: the campaigner whose key is first under `prefix` leads. */
export class QueueElection implements LeaderElection {
  readonly candidate: string
  readonly #state = new BehaviorSubject<LeaderState>({ leader: undefined, isLeader: false })
  readonly #errors = new Subject<LeaseLostError>()
  readonly #watch: Subscription
  readonly #members = new Members()
  #grant: LeaseGrant | undefined
  #myKey: string | undefined
  #campaigning: Subscription | undefined
  #untrack: (() => void) | undefined

  constructor(
    private readonly source: LeaseSource,
    readonly name: string,
    private readonly prefix: string,
    private readonly options: ElectionOptions,
  ) {
    checkLeaseOptions(`election ${JSON.stringify(name)}`, options)
    this.candidate = options.candidate ?? `candidate-${Math.random().toString(36).slice(2, 10)}`
    this.#watch = source.watch$({ prefix }).subscribe({
      next: (event) => {
        this.#members.apply(event)
        this.#publish()
      },
      error: (error: unknown) => this.#state.error(error),
    })
  }

  get leader$(): Observable<LeaderState> {
    return this.#state.asObservable()
  }

  get errors$(): Observable<LeaseLostError> {
    return this.#errors.asObservable()
  }

  #publish(): void {
    const first = this.#members.first()
    const next: LeaderState = {
      leader: first?.[1].value,
      isLeader: first !== undefined && this.#myKey !== undefined && first[0] === this.#myKey,
    }
    const current = this.#state.value
    if (!this.#state.closed && (current.leader !== next.leader || current.isLeader !== next.isLeader)) {
      this.#state.next(next)
    }
  }

  async campaign(options: { readonly signal?: AbortSignal } = {}): Promise<void> {
    const operation = `Campaigning in election ${JSON.stringify(this.name)}`
    if (this.#grant === undefined) {
      const grant = await this.source.grant(this.options.ttlSeconds ?? 10)
      this.#grant = grant
      this.#untrack = trackLease(grant)
      this.#myKey = `${this.prefix}${grant.id}`
      this.#campaigning = grant.lost$.subscribe((error) => {
        this.#dropGrant()
        this.#errors.next(error)
        this.#publish()
      })
      try {
        await grant.attach(this.#myKey, this.candidate)
      } catch (error) {
        await this.resign()
        throw error
      }
    }
    const grant = this.#grant
    const key = this.#myKey
    if (key === undefined) throw new LeaseLostError(`election ${JSON.stringify(this.name)}`)
    try {
      await waitForTurn(this.source, grant, this.prefix, key, {
        operation,
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      })
    } catch (error) {
      if (error instanceof CancelledError) await this.resign()
      throw error
    }
    this.#publish()
  }

  #dropGrant(): LeaseGrant | undefined {
    const grant = this.#grant
    this.#campaigning?.unsubscribe()
    this.#untrack?.()
    this.#grant = undefined
    this.#myKey = undefined
    this.#campaigning = undefined
    this.#untrack = undefined
    return grant
  }

  async resign(): Promise<void> {
    const grant = this.#dropGrant()
    this.#publish()
    if (grant) await grant.revoke().catch(() => undefined)
  }

  /** Resigns and stops watching; `leader$` completes. */
  async close(): Promise<void> {
    await this.resign()
    this.#watch.unsubscribe()
    this.#state.complete()
    this.#errors.complete()
  }
}
