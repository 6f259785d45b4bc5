/**
 * The marketplace's vocabulary: topic and group names, and the shape of each event.
 *
 * Every service imports its names from here, so a reader sees the whole message flow in one file:
 *
 *   registration ──talent.registered──▶ notifications (group `notifications`, retries, DLQ)
 *                                   └──▶ search-index  (group `search-index`, ordered per talent)
 *                ──file.uploaded─────▶ worker pool   (group `file-workers`, competing consumers)
 *   notifications' failures ──talent.registered.dlq──▶ dead-letter audit
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
} as const

export const groups = {
  notifications: `${prefix}notifications`,
  searchIndex: `${prefix}search-index`,
  fileWorkers: `${prefix}file-workers`,
  deadLetterAudit: `${prefix}dead-letter-audit`,
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

/** Keys in the config store (relative to its namespace). */
export const settingsKeys = {
  /** The live notification settings: `{ "template": "Welcome {name}! …" }`. */
  notifications: 'notification-settings',
} as const
