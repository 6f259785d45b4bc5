/**
 * The part of node-postgres (`pg`) this package uses, as structural types, so the public API does
 * not depend on `@types/pg`: a `pg.Client`, a `pg.PoolClient` and a `pg.Pool` all fit. Also the
 * checks for the table and schema names the package writes into SQL (they cannot be parameters).
 */
import { BrokerUnavailableError, ConfigError, isSwitchyardError } from '@switchyard/core'

/** A query result: the rows and how many rows the statement touched. */
export interface SqlResult<R> {
  readonly rows: R[]
  readonly rowCount: number | null
}

/** Anything that runs a parameterised query: `pg.Client`, `pg.PoolClient` or `pg.Pool`. */
export interface SqlQueryable {
  query<R = Record<string, unknown>>(text: string, values?: readonly unknown[]): Promise<SqlResult<R>>
}

/** A connection checked out of a pool (`pg.PoolClient`). `release(error)` destroys it instead of returning it. */
export interface SqlPoolClient extends SqlQueryable {
  release(destroy?: boolean | Error): void
  /** The relay only needs to hear that something happened: a notification, a broken connection. */
  on(event: 'notification' | 'error', listener: () => void): unknown
  removeListener(event: 'notification' | 'error', listener: () => void): unknown
}

/** A connection pool (`pg.Pool`). */
export interface SqlPool extends SqlQueryable {
  connect(): Promise<SqlPoolClient>
}

const identifier = /^[a-z_][a-z0-9_]{0,62}$/

/**
 * `"schema"."name"` for a table name given in options, after checking both are plain lower-case
 * SQL identifiers (they are written into statements, so nothing else is accepted).
 */
export function qualifiedName(what: string, schema: string, name: string): string {
  const issues: string[] = []
  if (!identifier.test(schema))
    issues.push(`schema must match ${identifier.source}, got ${JSON.stringify(schema)}`)
  if (!identifier.test(name))
    issues.push(`table must match ${identifier.source}, got ${JSON.stringify(name)}`)
  if (issues.length > 0) throw new ConfigError(what, issues, { context: { field: 'table' } })
  return `"${schema}"."${name}"`
}

/**
 * Errors a broken or refused connection raises: node's socket codes, PostgreSQL's SQLSTATE class 08
 * (but not 08P01, a protocol violation: a bug to fix, not an outage) and 57P0x (server shutting down).
 */
const connectionCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  '57P01',
  '57P02',
  '57P03',
])

/**
 * Rethrows a failed query as a Switchyard error: connection problems as retryable
 * `BrokerUnavailableError('postgres', …)`; anything else (a constraint, a missing table) unchanged,
 * because it needs a fix, not a retry.
 */
export function asSwitchyardError(error: unknown, operation: string): Error {
  if (isSwitchyardError(error)) return error
  const err = error instanceof Error ? error : new Error(String(error))
  const code = (err as { code?: unknown }).code
  const isConnection =
    (typeof code === 'string' &&
      (connectionCodes.has(code) || (code.startsWith('08') && code !== '08P01'))) ||
    /Connection terminated|connection timeout|Client has encountered a connection error|not queryable/i.test(
      err.message,
    )
  if (!isConnection) return err
  return new BrokerUnavailableError('postgres', operation, err.message, { cause: err })
}
