/**
 * The marketplace's vocabulary: topic and group names, and the shape of each event.
 *
 * Every service imports its names from here, so a reader sees the whole message flow in one file:
 *
 *   registration ──talent.registered──▶ notifications (group `notifications`, retries, DLQ)
 *                                   └──▶ search-index  (group `search-index`, ordered per talent)
 *                ──file.uploaded─────▶ worker pool   (group `file-workers`, competing consumers)
 *   notifications' failures ──talent.registered.dlq──▶ dead-letter audit
 *   registration HTTP ──search.talents (request)──▶ search-index (group `search-queries`) ──reply──▶ caller
 *
 * `MARKETPLACE_PREFIX` (optional) prefixes every topic and group, so several copies of the system
 * can share one broker (the end-to-end tests use a fresh prefix per run).
 */
const prefix = process.env.MARKETPLACE_PREFIX ?? ''

export const topics = {
  talentRegistered: `${prefix}talent.registered`,
  /** Where the Bus puts registrations the notifications service gave up on (`<topic>.dlq`). */
  talentRegisteredDlq: `${prefix}talent.registered.dlq`,
  fileUploaded: `${prefix}file.uploaded`,
  /** Request–reply: a {@link TalentSearch} query, answered by the search index with a {@link TalentSearchResult}. */
  searchTalents: `${prefix}search.talents`,
} as const

export const groups = {
  notifications: `${prefix}notifications`,
  searchIndex: `${prefix}search-index`,
  fileWorkers: `${prefix}file-workers`,
  deadLetterAudit: `${prefix}dead-letter-audit`,
  /** The search index's responders to `search.talents` (its own group: not the indexing group). */
  searchQueries: `${prefix}search-queries`,
} as const

/**
 * A talent submitted (or re-submitted) their profile. `version` grows by one with every
 * submission of the same talent; the message key is `talentId`, so versions of one talent stay in
 * order, and the message id is `registrationId`, so a re-sent copy can be recognised.
 */
export interface TalentRegistered {
  readonly registrationId: string
  readonly talentId: string
  readonly version: number
  readonly name: string
  readonly email: string
  readonly category: string
  readonly premium: boolean
}

/** A file (CV, portfolio) to process, e.g. scan and make a thumbnail. Premium talents jump the queue. */
export interface FileUploaded {
  readonly jobId: string
  readonly talentId: string
  readonly fileName: string
  readonly sizeBytes: number
}

/** One talent as the search index sees it. */
export interface IndexedTalent {
  readonly talentId: string
  readonly version: number
  readonly name: string
  readonly category: string
}

/** A query to the search index (request–reply on `search.talents`); every field is optional. */
export interface TalentSearch {
  /** Exact category (`design`, `engineering`, …). */
  readonly category?: string
  /** Part of the name, case-insensitive. */
  readonly name?: string
  /** Most talents returned (default 20, at most 100); `total` counts them all. */
  readonly limit?: number
}

/** The search index's reply: the matches (by talent id) and how many there are in all. */
export interface TalentSearchResult {
  readonly total: number
  readonly talents: readonly IndexedTalent[]
}

/** Keys in the config store (relative to its namespace). */
export const settingsKeys = {
  /** The live notification settings: `{ "template": "Welcome {name}! …" }`. */
  notifications: 'notification-settings',
} as const
