/**
 * search-index: keeps a searchable profile per talent, updated by every registration.
 *
 * It reads the same `talent.registered` events as notifications but in its own group, so both get
 * every event (fan-out). Versions of one talent must be applied in order: the events are keyed by
 * `talentId`, `ordered: true` asks the transport for per-key order (RabbitMQ: a single active
 * consumer), and the Bus never runs two messages of one key at once, even with `concurrency: 8`.
 * A re-sent copy (version already applied) is ignored; a gap would be reported as out of order.
 */
import type { Message } from '@switchyard/core'
import { Handle } from '@switchyard/di'
import { inject, injectable } from 'tsyringe'
import { OUTCOME_LOG, type OutcomeLog } from './outcome-log.js'
import { groups, type TalentRegistered, topics } from './topics.js'

/** One talent as the search index sees it. */
export interface IndexedTalent {
  readonly talentId: string
  readonly version: number
  readonly name: string
  readonly category: string
}

@injectable()
export class SearchIndexService {
  /** The "index": an in-memory map here, a search engine in production. */
  readonly index = new Map<string, IndexedTalent>()

  constructor(@inject(OUTCOME_LOG) private readonly log: OutcomeLog) {}

  @Handle(topics.talentRegistered, { group: groups.searchIndex, ordered: true, concurrency: 8 })
  onTalentRegistered(message: Message<TalentRegistered>): void {
    const { talentId, version, name, category } = message.payload
    const current = this.index.get(talentId)?.version ?? 0
    if (version <= current) return // a copy of an update already applied
    if (version !== current + 1) {
      this.log.record({ type: 'out-of-order', talentId, expectedVersion: current + 1, version })
    }
    this.index.set(talentId, { talentId, version, name, category })
    this.log.record({ type: 'indexed', talentId, version })
  }
}
