/**
 * registration's database, optional: with `MARKETPLACE_DATABASE_URL` (a PostgreSQL URL) the
 * registration service stores each talent in a `talents` table and writes its events into the
 * transactional outbox (`@switchyard/postgres`) in the same transaction; a relay in the service
 * publishes them. Without it (the default, `npm start`), the service publishes straight to the Bus.
 *
 * Why: with a database, publishing after the commit loses the event when the process dies in
 * between, and publishing before it announces a talent that may roll back. The outbox makes the
 * row and its events commit together; the relay republishes with the same ids after a crash, and
 * the notifications service's `dedupe` drops those copies.
 */
import { PostgresOutbox } from '@switchyard/postgres'
import pg from 'pg'
import type { InjectionToken } from 'tsyringe'

export interface RegistrationDb {
  readonly pool: pg.Pool
  readonly outbox: PostgresOutbox
  /** `"schema"."talents"`. */
  readonly talents: string
}

/** Registered with the database, or with `null` when the service publishes straight to the Bus. */
export const REGISTRATION_DB: InjectionToken<RegistrationDb | null> = Symbol(
  'talent-marketplace.RegistrationDb',
)

/**
 * Connects to `url` and creates (if missing) the `talents` table and the outbox table in `schema`
 * (`MARKETPLACE_DATABASE_SCHEMA`, default `public`).
 */
export async function openRegistrationDb(url: string, schema = 'public'): Promise<RegistrationDb> {
  const pool = new pg.Pool({ connectionString: url, max: 4 })
  pool.on('error', () => {}) // an idle connection that broke is replaced on next use
  const outbox = new PostgresOutbox({ schema })
  const talents = `"${schema}"."talents"`
  try {
    await pool.query(`CREATE TABLE IF NOT EXISTS ${talents} (
      talent_id text PRIMARY KEY,
      version   integer NOT NULL,
      name      text NOT NULL,
      email     text NOT NULL,
      category  text NOT NULL,
      premium   boolean NOT NULL
    )`)
    await outbox.migrate(pool)
  } catch (error) {
    await pool.end()
    throw error
  }
  return { pool, outbox, talents }
}
