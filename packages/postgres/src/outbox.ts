/**
 * The transactional outbox on PostgreSQL: `outbox.publish(client, …)` writes an event into an
 * outbox table inside the caller's own transaction, so the event exists if and only if the
 * business change committed; the relay (`relay.ts`) publishes those rows afterwards.
 */
import { randomUUID } from 'node:crypto'
import { ConfigError, EncodeError } from '@switchyard/core'
import { checkPublishOptions, validateTopic } from '@switchyard/core/spi'
import { OutboxRelay, type OutboxRelayOptions } from './relay.js'
import { asSwitchyardError, qualifiedName, type SqlQueryable } from './sql.js'

/** Options of {@link PostgresOutbox}. */
export interface PostgresOutboxOptions {
  /** The outbox table (default `switchyard_outbox`): a plain lower-case identifier of at most 50 characters. */
  readonly table?: string
  /** Its schema (default `public`). */
  readonly schema?: string
}

/** One event to write with {@link PostgresOutbox.publishBatch}. */
export interface OutboxEntry<T = unknown> {
  readonly topic: string
  /** Stored as JSON (`jsonb`) and published by the relay through its Bus's codec. */
  readonly payload: T
  /** Ordering key: the relay publishes the rows of one key in the order they were written. */
  readonly key?: string
  readonly headers?: Readonly<Record<string, string>>
  /** Message id (default a random UUID). A relay that publishes a row twice sends the same id both times. */
  readonly id?: string
  /** 0–9, passed to the Bus as `priority` (honoured where `capabilities.priority`). */
  readonly priority?: number
}

/** What {@link PostgresOutbox.pending} reports. */
export interface OutboxBacklog {
  /** Rows not yet published. */
  readonly pending: number
  /** Age of the oldest unpublished row in ms (0 when none). */
  readonly oldestMs: number
}

/**
 * An outbox table and the statements on it. Create one per table; it holds no connection.
 *
 * **When to use:** a service writes to PostgreSQL and must publish an event about that write.
 * Publishing after the commit loses the event when the process dies in between; publishing
 * before it announces a change that may roll back. Write the event with `publish(client, …)` on
 * the transaction's client instead, and run a relay (`outbox.relay({ pool, bus })`) that publishes
 * committed rows.
 *
 * **Guarantees:** a row is published only if its transaction committed, at least once; after a
 * relay crash the rows of the batch it was publishing are published again, with the same message
 * ids (so a `dedupe` consumer drops them). Rows of one key are published in the order they were
 * inserted (identity order); rows inserted by transactions that do not serialise on the same data
 * may commit, and so be published, in another order.
 *
 * @example
 * const outbox = new PostgresOutbox()
 * await outbox.migrate(pool) // once, or run the SQL of outbox.migrationSql() in your migrations
 * const client = await pool.connect()
 * await client.query('BEGIN')
 * await client.query('INSERT INTO talents (id, name) VALUES ($1, $2)', [id, name])
 * await outbox.publish(client, 'talent.registered', { id, name }, { key: id })
 * await client.query('COMMIT')
 * client.release()
 * const relay = outbox.relay({ pool, bus }) // publishes committed rows, one active relay per table
 */
export class PostgresOutbox {
  /** `"schema"."table"`, as written into statements. */
  readonly table: string
  /** The channel `publish` notifies at commit, so an idle relay wakes without waiting for its poll. */
  readonly channel: string
  readonly #name: string
  readonly #insert: string
  readonly #insertMany: string

  constructor(options: PostgresOutboxOptions = {}) {
    const name = options.table ?? 'switchyard_outbox'
    const schema = options.schema ?? 'public'
    if (name.length > 50) {
      throw new ConfigError('outbox options', [`table must be at most 50 characters, got ${name.length}`], {
        context: { field: 'table' },
      })
    }
    this.table = qualifiedName('outbox options', schema, name)
    this.#name = name
    this.channel = `${schema}_${name}`.slice(0, 63)
    const columns = `INSERT INTO ${this.table} (id, topic, key, payload, headers, priority)`
    this.#insert = `WITH row AS (${columns} VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6) RETURNING id)
      SELECT id, pg_notify($7, '') FROM row`
    this.#insertMany = `WITH rows AS (${columns}
        SELECT id, topic, key, payload::jsonb, headers::jsonb, priority
        FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::smallint[])
          WITH ORDINALITY AS e(id, topic, key, payload, headers, priority, n)
        ORDER BY n
        RETURNING 1)
      SELECT count(*)::int AS n, pg_notify($7, '') FROM rows`
  }

  /**
   * The migration that creates the table and its indexes (idempotent: `IF NOT EXISTS`). Put it in
   * your migration tool, or call {@link migrate}.
   */
  migrationSql(): string {
    return `CREATE TABLE IF NOT EXISTS ${this.table} (
  position   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id         text NOT NULL,
  topic      text NOT NULL,
  key        text,
  payload    jsonb NOT NULL,
  headers    jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  priority   smallint,
  sent_at    timestamptz
);
CREATE INDEX IF NOT EXISTS "${this.#name}_pending" ON ${this.table} (position) WHERE sent_at IS NULL;
CREATE INDEX IF NOT EXISTS "${this.#name}_sent" ON ${this.table} (sent_at) WHERE sent_at IS NOT NULL;`
  }

  /** Runs {@link migrationSql} on `db` (a pool or a client). */
  async migrate(db: SqlQueryable): Promise<void> {
    try {
      await db.query(this.migrationSql())
    } catch (error) {
      throw asSwitchyardError(error, 'outbox migration')
    }
  }

  /**
   * Writes one event into the outbox on `client` — the client of the caller's open transaction,
   * so the row commits or rolls back with it. Resolves with the message id. Nothing is sent to a
   * broker here; the relay does that after the commit.
   */
  async publish<T>(
    client: SqlQueryable,
    topic: string,
    payload: T,
    options: Omit<OutboxEntry<T>, 'topic' | 'payload'> = {},
  ): Promise<string> {
    const row = this.#row({ ...options, topic, payload })
    try {
      await client.query(this.#insert, [...row, this.channel])
    } catch (error) {
      throw asSwitchyardError(error, 'outbox publish')
    }
    return row[0]
  }

  /** Writes several events in one statement, in the given order (see {@link publish}). Resolves with their ids. */
  async publishBatch(client: SqlQueryable, entries: readonly OutboxEntry[]): Promise<string[]> {
    if (entries.length === 0) return []
    const rows = entries.map((entry) => this.#row(entry))
    const column = (i: number) => rows.map((row) => row[i])
    try {
      await client.query(this.#insertMany, [
        column(0),
        column(1),
        column(2),
        column(3),
        column(4),
        column(5),
        this.channel,
      ])
    } catch (error) {
      throw asSwitchyardError(error, 'outbox publish')
    }
    return column(0) as string[]
  }

  /** How many rows wait for the relay, and how old the oldest is. */
  async pending(db: SqlQueryable): Promise<OutboxBacklog> {
    try {
      const { rows } = await db.query<{ pending: number; oldest_ms: number | null }>(
        `SELECT count(*)::int AS pending,
           (extract(epoch FROM now() - min(created_at)) * 1000)::float8 AS oldest_ms
         FROM ${this.table} WHERE sent_at IS NULL`,
      )
      return { pending: rows[0]?.pending ?? 0, oldestMs: Math.max(0, Math.round(rows[0]?.oldest_ms ?? 0)) }
    } catch (error) {
      throw asSwitchyardError(error, 'outbox backlog')
    }
  }

  /** A relay for this table; it starts at once (see {@link OutboxRelay}). */
  relay(options: OutboxRelayOptions): OutboxRelay {
    return new OutboxRelay(this, options)
  }

  /** The row of `entry`: the Bus's own checks of topic and publish options, then the payload as JSON. */
  #row(entry: OutboxEntry): [string, string, string | null, string, string, number | null] {
    const topic = validateTopic(entry.topic)
    const headers = checkPublishOptions(entry, 'outbox entry') ?? {}
    let payload: string | undefined
    try {
      payload = JSON.stringify(entry.payload)
    } catch (error) {
      throw new EncodeError(topic, `the payload is not JSON (${(error as Error).message})`, { cause: error })
    }
    if (payload === undefined)
      throw new EncodeError(topic, `the payload is not JSON (${typeof entry.payload})`)
    return [
      entry.id ?? randomUUID(),
      topic,
      entry.key ?? null,
      payload,
      JSON.stringify(headers),
      entry.priority ?? null,
    ]
  }
}
