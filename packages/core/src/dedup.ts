/**
 * Idempotent consumers: the `dedupe` middleware and the store interface it claims message ids in,
 * with the in-memory store. Other stores (Redis in `@switchyard/redis`) implement
 * {@link DedupStore}; the middleware is written once here.
 *
 * A delivery first claims its key for `leaseMs`. Exactly one claimer of a key wins: it runs the
 * handler, and on `ack` marks the key done for `windowMs`. Any other delivery of that key is
 * dropped while the key is done, and retried later while it is claimed by a handler still running.
 * When the handler does not end in `ack` (it failed and will be retried, or was dead-lettered),
 * the claim is released, so the redelivery or a replay runs the handler again: at-least-once is
 * kept, never traded for at-most-once. A process that dies holding a claim blocks its key until
 * `leaseMs` passes; then a redelivery runs the handler.
 */
import { ConfigError } from './errors.js'
import { nextMessageId } from './message-id.js'
import { type HandleContext, type Middleware, Outcome } from './middleware.js'

/** What a claim found: this caller owns the key now, another one does, or the key is done. */
export type ClaimResult = 'claimed' | 'in-progress' | 'done'

/**
 * Where `dedupe` keeps claims. Every method must be atomic per key: two `claim` calls racing on
 * one key return `claimed` to exactly one of them, across processes when the store is shared.
 */
export interface DedupStore {
  /** Claims `key` for `leaseMs` under `token`, unless it is claimed (and unexpired) or done. */
  claim(key: string, token: string, leaseMs: number): Promise<ClaimResult>
  /** Marks `key` done for `windowMs`, if `token` still holds the claim. */
  complete(key: string, token: string, windowMs: number): Promise<void>
  /** Drops the claim on `key`, if `token` still holds it. */
  release(key: string, token: string): Promise<void>
}

/** Options of {@link dedupe}. */
export interface DedupOptions {
  readonly store: DedupStore
  /** How long a handled key is remembered, in ms (default 86,400,000: one day). */
  readonly windowMs?: number
  /**
   * How long a claim holds while its handler runs, in ms (default 60,000). Make it longer than the
   * handler's `timeoutMs`: a claim that expires mid-run lets a duplicate run the handler too.
   */
  readonly leaseMs?: number
  /** Redelivery delay of a duplicate that arrives while the first copy is being handled (default 1,000). */
  readonly retryDelayMs?: number
  /**
   * The deduplication key of a delivery (default: `<group or topic>:<message id>`, so every group
   * handles a message once). Return a business key (an order number) to collapse different
   * messages that mean the same thing.
   */
  readonly key?: (context: HandleContext) => string
}

const duplicate = new Error('duplicate: this message was already handled within the dedup window')

function positive(field: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value === 'number' && Number.isFinite(value) && value > 0) return value
  throw new ConfigError('dedupe options', [`${field} must be a number > 0, got ${String(value)}`], {
    context: { field },
  })
}

/**
 * Middleware that runs the handler once per message id (or key) within a time window, even when
 * the broker or a producer delivers a message twice and two consumers race on it.
 *
 * **When to use:** any `handle` whose handler has effects that must not repeat (emails, payments)
 * on an at-least-once broker. Use a shared store (Redis) when several processes consume.
 *
 * **Details:** duplicates are acknowledged with a `dropped` event; a duplicate arriving while the
 * first copy runs is retried after `retryDelayMs` (its attempt count rises). A handler failure
 * releases the claim, so retries run the handler again. A store that throws (unreachable)
 * makes the chain fail, and the Bus retries the delivery: nothing is lost, nothing runs twice.
 *
 * @example
 * const seen = dedupe({ store: new MemoryDedupStore(), windowMs: 3_600_000 })
 * bus.handle('talent.registered', { group: 'mail', middleware: [seen] }, sendWelcome)
 */
export function dedupe(options: DedupOptions): Middleware {
  const { store } = options
  if (
    typeof store?.claim !== 'function' ||
    typeof store.complete !== 'function' ||
    typeof store.release !== 'function'
  ) {
    throw new ConfigError('dedupe options', ['store must implement DedupStore (claim, complete, release)'], {
      context: { field: 'store' },
    })
  }
  if (options.key !== undefined && typeof options.key !== 'function') {
    throw new ConfigError('dedupe options', ['key must be a function of the handle context'], {
      context: { field: 'key' },
    })
  }
  const windowMs = positive('windowMs', options.windowMs, 86_400_000)
  const leaseMs = positive('leaseMs', options.leaseMs, 60_000)
  const retryDelayMs = positive('retryDelayMs', options.retryDelayMs, 1_000)
  const keyOf = options.key ?? ((ctx: HandleContext) => `${ctx.group ?? ctx.topic}:${ctx.raw.id}`)
  return (next) => async (ctx) => {
    const key = keyOf(ctx)
    const token = nextMessageId()
    const claim = await store.claim(key, token, leaseMs)
    if (claim === 'done') return Outcome.drop(duplicate)
    if (claim === 'in-progress') return Outcome.retry(retryDelayMs)
    let outcome: Awaited<ReturnType<typeof next>>
    try {
      outcome = await next(ctx)
    } catch (error) {
      await store.release(key, token)
      throw error
    }
    if (outcome.kind === 'ack') await store.complete(key, token, windowMs)
    else await store.release(key, token)
    return outcome
  }
}

interface Entry {
  token: string
  done: boolean
  expiresAt: number
}

/**
 * A {@link DedupStore} in this process's memory: for one consumer process, and for tests. Claims
 * are lost on restart (a redelivery then runs the handler again). Expired keys are swept on use.
 */
export class MemoryDedupStore implements DedupStore {
  readonly #entries = new Map<string, Entry>()
  #nextSweep = 0

  /** Keys held now (claimed or done, not yet swept). */
  get size(): number {
    return this.#entries.size
  }

  claim(key: string, token: string, leaseMs: number): Promise<ClaimResult> {
    const now = Date.now()
    this.#sweep(now)
    const entry = this.#entries.get(key)
    if (entry !== undefined && entry.expiresAt > now) {
      return Promise.resolve(entry.done ? 'done' : 'in-progress')
    }
    this.#entries.set(key, { token, done: false, expiresAt: now + leaseMs })
    return Promise.resolve('claimed')
  }

  complete(key: string, token: string, windowMs: number): Promise<void> {
    const entry = this.#entries.get(key)
    if (entry?.token === token) {
      entry.done = true
      entry.expiresAt = Date.now() + windowMs
    }
    return Promise.resolve()
  }

  release(key: string, token: string): Promise<void> {
    if (this.#entries.get(key)?.token === token) this.#entries.delete(key)
    return Promise.resolve()
  }

  /** Deletes expired entries, at most once a second. */
  #sweep(now: number): void {
    if (now < this.#nextSweep) return
    this.#nextSweep = now + 1_000
    for (const [key, entry] of this.#entries) if (entry.expiresAt <= now) this.#entries.delete(key)
  }
}
