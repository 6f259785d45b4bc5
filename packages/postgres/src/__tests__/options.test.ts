/**
 * Option and input checks of `@switchyard/postgres` that fail before any statement is sent: table
 * names written into SQL, relay options, outbox entries that cannot be stored.
 */
import { expectSwitchyardError } from '@switchyard/contract'
import { Bus } from '@switchyard/core'
import { createMemoryTransport } from '@switchyard/memory'
import { describe, expect, it } from 'vitest'
import { PostgresDedupStore, PostgresOutbox, type SqlPool, type SqlQueryable } from '../index.js'

/** A database handle for checks that must fail before reaching it. */
const unreachable: SqlQueryable & SqlPool = {
  query: () => Promise.reject(new Error('no statement may be sent for invalid input')),
  connect: () => Promise.reject(new Error('no connection may be made for invalid options')),
}

describe('outbox and dedup store options', () => {
  it('accept plain lower-case identifiers and quote them', () => {
    expect(new PostgresOutbox().table).toBe('"public"."switchyard_outbox"')
    expect(new PostgresOutbox({ schema: 'billing', table: 'events_out' }).table).toBe(
      '"billing"."events_out"',
    )
  })

  it.each([
    ['a quote', { table: 'out"; DROP TABLE x; --' }],
    ['upper case', { table: 'Outbox' }],
    ['a dot', { schema: 'a.b' }],
    ['more than 50 characters', { table: 'o'.repeat(51) }],
  ])('refuse a table name with %s: ConfigError naming the field', async (_, options) => {
    const error = await expectSwitchyardError(() => new PostgresOutbox(options), 'ConfigError')
    expect(error.message).toMatch(/^Invalid outbox options: (schema|table) must/)
    expect(error.context.field).toBe('table')
  })

  it('the dedup store refuses a missing db and a bad sweep interval', async () => {
    await expectSwitchyardError(() => new PostgresDedupStore({ db: undefined as never }), 'ConfigError')
    const error = await expectSwitchyardError(
      () => new PostgresDedupStore({ db: unreachable, sweepEveryMs: -1 }),
      'ConfigError',
    )
    expect(error.message).toContain('sweepEveryMs must be an integer >= 0, got -1')
  })

  it.each([
    [{ batchSize: 0 }, 'batchSize must be an integer in 1..10000, got 0'],
    [{ batchSize: 1.5 }, 'batchSize must be an integer in 1..10000, got 1.5'],
    [{ pollIntervalMs: -5 }, 'pollIntervalMs must be an integer in 1..3600000, got -5'],
    [{ retainSentMs: -1 }, 'retainSentMs must be an integer in 0..2147483647, got -1'],
  ])('the relay refuses %o before it connects', async (options, issue) => {
    const bus = new Bus(createMemoryTransport())
    const error = await expectSwitchyardError(
      () => new PostgresOutbox().relay({ pool: unreachable, bus, ...options }),
      'ConfigError',
    )
    expect(error.message).toContain(issue)
    await bus.close()
  })

  it('the relay needs a pool and a bus', async () => {
    const error = await expectSwitchyardError(
      () => new PostgresOutbox().relay({ pool: unreachable, bus: {} as never }),
      'ConfigError',
    )
    expect(error.context.field).toBe('bus')
  })
})

describe('outbox entries', () => {
  const outbox = new PostgresOutbox()

  it('a payload JSON cannot hold is an EncodeError naming the topic, and nothing is written', async () => {
    const error = await expectSwitchyardError(
      outbox.publish(unreachable, 'orders.placed', { total: 10n }),
      'EncodeError',
    )
    expect(error.message).toMatch(
      /^Cannot encode a payload for topic "orders.placed": the payload is not JSON/,
    )
    await expectSwitchyardError(outbox.publish(unreachable, 'orders.placed', undefined), 'EncodeError')
  })

  it('an invalid topic, header or id is refused before any statement', async () => {
    await expectSwitchyardError(outbox.publish(unreachable, '', {}), 'InvalidTopicError')
    const header = await expectSwitchyardError(
      outbox.publishBatch(unreachable, [{ topic: 'a', payload: 1, headers: { tenant: 7 as never } }]),
      'ConfigError',
    )
    expect(header.message).toContain('Invalid outbox entry: headers.tenant must be a string, got number')
    const id = await expectSwitchyardError(outbox.publish(unreachable, 'a', 1, { id: '' }), 'ConfigError')
    expect(id.message).toContain('id must be a non-empty string')
  })

  it('an empty batch writes nothing', async () => {
    expect(await outbox.publishBatch(unreachable, [])).toEqual([])
  })

  it('the migration creates the table, the pending index and the sent index, idempotently', () => {
    const sql = new PostgresOutbox({ table: 'out' }).migrationSql()
    expect(sql).toContain('CREATE TABLE IF NOT EXISTS "public"."out"')
    expect(sql).toContain(
      'CREATE INDEX IF NOT EXISTS "out_pending" ON "public"."out" (position) WHERE sent_at IS NULL',
    )
    expect(sql).toContain('CREATE INDEX IF NOT EXISTS "out_sent"')
  })
})
