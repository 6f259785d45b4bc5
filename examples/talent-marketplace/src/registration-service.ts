/**
 * registration: publishes `talent.registered` for each new or updated talent profile, and a
 * `file.uploaded` job for the CV that came with it.
 *
 * Events are keyed by talent (per-talent order) and carry the registration id as message id (so
 * consumers can deduplicate). Jobs of premium talents get a higher priority — but only where the
 * transport says it honours priorities: the code asks `transport.capabilities.priority`, never
 * which broker it is. Messages go out in batches (`publishBatch`), one broker round trip each.
 *
 * With a database (registration-db.ts) each batch is one transaction instead: the talents are
 * upserted into `talents` and their events written into the outbox, and the service's outbox relay
 * publishes them once committed (the same entries, so ids, keys and priorities are unchanged).
 */
import type { BatchEntry, Bus, Transport } from '@switchyard/core'
import { BUS, type OnStart, type OnStop, TRANSPORT } from '@switchyard/di'
import type { OutboxRelay } from '@switchyard/postgres'
import { inject, injectable } from 'tsyringe'
import { OUTCOME_LOG, type OutcomeLog } from './outcome-log.js'
import { REGISTRATION_DB, type RegistrationDb } from './registration-db.js'
import { type GeneratedRegistration, registrations } from './talent-generator.js'
import { topics } from './topics.js'

/** What one `publishRange` call sent. */
export interface PublishSummary {
  readonly registrations: number
  readonly duplicates: number
  readonly jobs: number
}

@injectable()
export class RegistrationService implements OnStart, OnStop {
  #relay: OutboxRelay | undefined

  constructor(
    @inject(BUS) private readonly bus: Bus,
    @inject(TRANSPORT) private readonly transport: Transport,
    @inject(OUTCOME_LOG) private readonly log: OutcomeLog,
    @inject(REGISTRATION_DB) private readonly db: RegistrationDb | null,
  ) {}

  /** The outbox relay (with a database, after start). */
  get relay(): OutboxRelay | undefined {
    return this.#relay
  }

  onStart(): void {
    if (this.db)
      this.#relay = this.db.outbox.relay({ pool: this.db.pool, bus: this.bus, pollIntervalMs: 200 })
  }

  async onStop(): Promise<void> {
    await this.#relay?.stop()
    await this.db?.pool.end()
  }

  /** Publishes generated registrations `from` … `from + count - 1`, `batchSize` at a time. */
  async publishRange(from: number, count: number, batchSize = 100): Promise<PublishSummary> {
    const all = registrations(from, count)
    for (let i = 0; i < all.length; i += batchSize) {
      const batch = all.slice(i, i + batchSize)
      if (this.db) await this.#store(this.db, batch)
      else await this.bus.publishBatch(batch.flatMap((r) => this.#entries(r)))
    }
    const summary = {
      registrations: all.length,
      duplicates: all.filter((r) => r.duplicate).length,
      jobs: all.length,
    }
    this.log.record({ type: 'published', ...summary })
    return summary
  }

  /** One transaction: the talents (a newer version wins) and their events into the outbox. */
  async #store(db: RegistrationDb, batch: readonly GeneratedRegistration[]): Promise<void> {
    const client = await db.pool.connect()
    try {
      await client.query('BEGIN')
      for (const { event } of batch) {
        await client.query(
          `INSERT INTO ${db.talents} (talent_id, version, name, email, category, premium)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (talent_id) DO UPDATE SET version = excluded.version, name = excluded.name,
             email = excluded.email, category = excluded.category, premium = excluded.premium
           WHERE ${db.talents}.version < excluded.version`,
          [event.talentId, event.version, event.name, event.email, event.category, event.premium],
        )
      }
      await db.outbox.publishBatch(
        client,
        batch.flatMap((r) => this.#entries(r)),
      )
      await client.query('COMMIT')
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined)
      throw error
    } finally {
      client.release()
    }
  }

  #entries({ event, job, priority, duplicate }: GeneratedRegistration): BatchEntry[] {
    const registered: BatchEntry = {
      topic: topics.talentRegistered,
      payload: event,
      key: event.talentId,
      id: event.registrationId,
    }
    const uploaded: BatchEntry = {
      topic: topics.fileUploaded,
      payload: job,
      id: job.jobId,
      headers: { 'x-marketplace-priority': String(priority) },
      ...(this.transport.capabilities.priority ? { priority } : {}),
    }
    return duplicate ? [registered, registered, uploaded] : [registered, uploaded]
  }
}
