/**
 * `PostgresDedupStore`: the `DedupStore` of `@switchyard/core`'s `dedupe` middleware in a
 * PostgreSQL table, shared by every consumer process that uses the same database — for services
 * that have PostgreSQL and no Redis, or that want the claim next to their data.
 *
 * Each operation is one statement, atomic on the server. A claim inserts the key, or takes over
 * an expired row (`INSERT … ON CONFLICT DO UPDATE … WHERE expires_at <= now()`); when two claimers
 * race, the unique key makes the second wait for the first and then find the row taken, so exactly
 * one of them gets `claimed`. Completing and releasing touch the row only while the caller's token
 * still holds it.
 */
import type { ClaimResult, DedupStore } from '@switchyard/core'
import { ConfigError } from '@switchyard/core'
import { asSwitchyardError, qualifiedName, type SqlQueryable } from './sql.js'

/** Options of {@link PostgresDedupStore}. */
export interface PostgresDedupStoreOptions {
  /** A pool (or a client) of the database; the store never connects or closes it. */
  readonly db: SqlQueryable
  /** The claims table (default `switchyard_dedup`). */
  readonly table?: string
  /** Its schema (default `public`). */
  readonly schema?: string
  /** Delete expired rows at most this often, on a claim (default 60,000 ms; 0 never). */
  readonly sweepEveryMs?: number
}

/**
 * Claims of the `dedupe` middleware in PostgreSQL: one row per key, `done` for the dedup window
 * afterwards.
 *
 * **When to use:** several processes consume the same group, a handler's effects must not repeat,
 * and the service already has PostgreSQL (with Redis, `RedisDedupStore` is cheaper per message).
 *
 * **Details:** a query that fails because the database is unreachable rejects with
 * `BrokerUnavailableError` (`'postgres'`); the Bus then retries the delivery, so nothing is lost and
 * nothing runs twice. Expired rows are deleted on a claim at most every `sweepEveryMs`.
 *
 * @example
 * const store = new PostgresDedupStore({ db: pool })
 * await store.migrate() // or run store.migrationSql() in your migrations
 * bus.handle('talent.registered', { group: 'mail', middleware: [dedupe({ store })] }, sendWelcome)
 */
export class PostgresDedupStore implements DedupStore {
  readonly #db: SqlQueryable
  readonly #table: string
  readonly #name: string
  readonly #sweepEveryMs: number
  readonly #claim: string
  #lastSweep = Date.now()

  constructor(options: PostgresDedupStoreOptions) {
    if (typeof options?.db?.query !== 'function') {
      throw new ConfigError('dedup store options', ['db must be a pg.Pool or pg.Client'], {
        context: { field: 'db' },
      })
    }
    const sweep = options.sweepEveryMs ?? 60_000
    if (!Number.isInteger(sweep) || sweep < 0) {
      throw new ConfigError(
        'dedup store options',
        [`sweepEveryMs must be an integer >= 0, got ${String(sweep)}`],
        {
          context: { field: 'sweepEveryMs' },
        },
      )
    }
    this.#db = options.db
    this.#name = options.table ?? 'switchyard_dedup'
    this.#table = qualifiedName('dedup store options', options.schema ?? 'public', this.#name)
    this.#sweepEveryMs = sweep
    const t = this.#table
    this.#claim = `WITH claimed AS (
        INSERT INTO ${t} AS d (key, token, done, expires_at)
        VALUES ($1, $2, false, now() + $3 * interval '1 millisecond')
        ON CONFLICT (key) DO UPDATE SET token = excluded.token, done = false, expires_at = excluded.expires_at
          WHERE d.expires_at <= now()
        RETURNING 1)
      SELECT CASE
        WHEN EXISTS (SELECT 1 FROM claimed) THEN 'claimed'
        WHEN (SELECT done FROM ${t} WHERE key = $1 AND expires_at > now()) THEN 'done'
        ELSE 'in-progress' END AS result`
  }

  /** The table the store needs (idempotent). */
  migrationSql(): string {
    return `CREATE TABLE IF NOT EXISTS ${this.#table} (
  key        text PRIMARY KEY,
  token      text NOT NULL,
  done       boolean NOT NULL,
  expires_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS "${this.#name}_expires" ON ${this.#table} (expires_at);`
  }

  /** Runs {@link migrationSql}. */
  async migrate(): Promise<void> {
    await this.#query(this.migrationSql(), [], 'dedup store migration')
  }

  async claim(key: string, token: string, leaseMs: number): Promise<ClaimResult> {
    if (this.#sweepEveryMs > 0 && Date.now() - this.#lastSweep >= this.#sweepEveryMs) {
      this.#lastSweep = Date.now()
      await this.#query(`DELETE FROM ${this.#table} WHERE expires_at <= now()`, [], 'dedup store sweep')
    }
    const rows = await this.#query<{ result: ClaimResult }>(
      this.#claim,
      [key, token, Math.ceil(leaseMs)],
      'dedup claim',
    )
    return rows[0]?.result ?? 'in-progress'
  }

  async complete(key: string, token: string, windowMs: number): Promise<void> {
    await this.#query(
      `UPDATE ${this.#table} SET done = true, expires_at = now() + $3 * interval '1 millisecond'
       WHERE key = $1 AND token = $2`,
      [key, token, Math.ceil(windowMs)],
      'dedup complete',
    )
  }

  async release(key: string, token: string): Promise<void> {
    await this.#query(
      `DELETE FROM ${this.#table} WHERE key = $1 AND token = $2`,
      [key, token],
      'dedup release',
    )
  }

  async #query<R>(text: string, values: readonly unknown[], operation: string): Promise<R[]> {
    try {
      return (await this.#db.query<R>(text, values)).rows
    } catch (error) {
      throw asSwitchyardError(error, operation)
    }
  }
}
