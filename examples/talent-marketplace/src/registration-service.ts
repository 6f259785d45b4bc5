/**
 * registration: publishes `talent.registered` for each new or updated talent profile, and a
 * `file.uploaded` job for the CV that came with it.
 *
 * Events are keyed by talent (per-talent order) and carry the registration id as message id (so
 * consumers can deduplicate). Jobs of premium talents get a higher priority — but only where the
 * transport says it honours priorities: the code asks `transport.capabilities.priority`, never
 * which broker it is. Messages go out in batches (`publishBatch`), one broker round trip each.
 */
import type { BatchEntry, Bus, Transport } from '@switchyard/core'
import { BUS, TRANSPORT } from '@switchyard/di'
import { inject, injectable } from 'tsyringe'
import { OUTCOME_LOG, type OutcomeLog } from './outcome-log.js'
import { type GeneratedRegistration, registrations } from './talent-generator.js'
import { topics } from './topics.js'

/** What one `publishRange` call sent. */
export interface PublishSummary {
  readonly registrations: number
  readonly duplicates: number
  readonly jobs: number
}

@injectable()
export class RegistrationService {
  constructor(
    @inject(BUS) private readonly bus: Bus,
    @inject(TRANSPORT) private readonly transport: Transport,
    @inject(OUTCOME_LOG) private readonly log: OutcomeLog,
  ) {}

  /** Publishes generated registrations `from` … `from + count - 1`, `batchSize` at a time. */
  async publishRange(from: number, count: number, batchSize = 100): Promise<PublishSummary> {
    const all = registrations(from, count)
    for (let i = 0; i < all.length; i += batchSize) {
      await this.bus.publishBatch(all.slice(i, i + batchSize).flatMap((r) => this.#entries(r)))
    }
    const summary = {
      registrations: all.length,
      duplicates: all.filter((r) => r.duplicate).length,
      jobs: all.length,
    }
    this.log.record({ type: 'published', ...summary })
    return summary
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
