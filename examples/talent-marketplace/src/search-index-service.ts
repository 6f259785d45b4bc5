/**
 * search-index: keeps a searchable profile per talent, updated by every registration, and answers
 * search queries from it.
 *
 * It reads the same `talent.registered` events as notifications but in its own group, so both get
 * every event (fan-out). Versions of one talent must be applied in order: the events are keyed by
 * `talentId`, `ordered: true` asks the transport for per-key order (RabbitMQ: a single active
 * consumer), and the Bus never runs two messages of one key at once, even with `concurrency: 8`.
 * A re-sent copy (version already applied) is ignored; a gap would be reported as out of order.
 *
 * Queries arrive by request–reply on `search.talents` (`bus.reply`): the handler's return value is
 * the reply, sent back to the instance that asked. The responder is started in `onStart` (the
 * `@Handle` decorator binds plain handlers only) and stopped in `onStop`.
 */
import type { Bus, HandlerSubscription, Message } from '@switchyard/core'
import { BUS, Handle, type OnStart, type OnStop } from '@switchyard/di'
import { inject, injectable } from 'tsyringe'
import { OUTCOME_LOG, type OutcomeLog } from './outcome-log.js'
import {
  groups,
  type IndexedTalent,
  type TalentRegistered,
  type TalentSearch,
  type TalentSearchResult,
  topics,
} from './topics.js'

@injectable()
export class SearchIndexService implements OnStart, OnStop {
  /** The "index": an in-memory map here, a search engine in production. */
  readonly index = new Map<string, IndexedTalent>()
  #replies: HandlerSubscription | undefined

  constructor(
    @inject(BUS) private readonly bus: Bus,
    @inject(OUTCOME_LOG) private readonly log: OutcomeLog,
  ) {}

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

  /** The running `search.talents` responder (after start), for introspection and logs. */
  get replies(): HandlerSubscription | undefined {
    return this.#replies
  }

  async onStart(): Promise<void> {
    this.#replies = this.bus.reply<TalentSearch, TalentSearchResult>(
      topics.searchTalents,
      { group: groups.searchQueries, concurrency: 8 },
      (message) => this.search(message.payload),
    )
    await this.#replies.ready
  }

  async onStop(): Promise<void> {
    await this.#replies?.stop() // answers in progress are sent first
  }

  /** Talents matching `query`, by talent id; `total` counts every match, `talents` the first `limit`. */
  search(query: TalentSearch): TalentSearchResult {
    const name = query.name?.toLowerCase()
    const matches = [...this.index.values()]
      .filter((t) => query.category === undefined || t.category === query.category)
      .filter((t) => name === undefined || t.name.toLowerCase().includes(name))
      .sort((a, b) => a.talentId.localeCompare(b.talentId))
    const limit = Math.min(Math.max(Math.trunc(query.limit ?? 20), 0), 100)
    return { total: matches.length, talents: matches.slice(0, limit) }
  }
}
