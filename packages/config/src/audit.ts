/**
 * Audit records and reserved keys, shared by the drivers.
 *
 * Every change of key `k` also writes `__audit/k` in the same transaction, so the audit key's
 * versions have exactly the revisions of `k`'s changes: history reads them back through MVCC.
 * Locks and elections live under `__locks/` and `__elections/`, one folder per name with the name
 * URI-encoded, so a name never contains `/` there: the contenders of `jobs/a` (`__locks/jobs%2Fa/…`)
 * and of `jobs/a/b` (`__locks/jobs%2Fa%2Fb/…`) are disjoint, and a watch of one folder never sees
 * the other. Keys starting with `__` are reserved: the store refuses them and hides them from
 * `list` and `watch$`.
 */
import type { AuditInfo, AuditRecord, Revision } from './config-store.js'

export const auditKey = (key: string): string => `__audit/${key}`
export const lockPrefix = (name: string): string => `__locks/${encodeURIComponent(name)}/`
export const electionPrefix = (name: string): string => `__elections/${encodeURIComponent(name)}/`

/**
 * A namespace as the stores apply it: `''` stays the root, anything else ends with exactly one
 * `/`, so `'/apps/billing'` and `'/apps/billing/'` both mean the folder `/apps/billing/` (and
 * keys never run on into the folder name, as `/apps/billingtransport` would).
 */
export function normalizeNamespace(namespace: string | undefined): string {
  if (namespace === undefined || namespace === '') return ''
  return namespace.endsWith('/') ? namespace : `${namespace}/`
}

/** The stored JSON of an audit record (its revision is the revision it is stored at). */
export function auditValue(
  action: 'put' | 'delete',
  audit: AuditInfo,
  previousRevision: Revision | undefined,
  now = Date.now(),
): string {
  return JSON.stringify({
    author: audit.author,
    time: now,
    action,
    ...(previousRevision === undefined ? {} : { previousRevision }),
    ...(audit.comment === undefined ? {} : { comment: audit.comment }),
  })
}

/** Reads a stored audit record back; `undefined` if absent or not ours. */
export function parseAudit(raw: string | undefined, revision: Revision): AuditRecord | undefined {
  if (raw === undefined) return undefined
  try {
    const a = JSON.parse(raw) as Partial<AuditRecord>
    if (typeof a.author !== 'string' || typeof a.time !== 'number') return undefined
    return {
      author: a.author,
      time: a.time,
      revision,
      previousRevision: a.previousRevision,
      action: a.action === 'delete' ? 'delete' : 'put',
      ...(a.comment === undefined ? {} : { comment: a.comment }),
    }
  } catch {
    return undefined
  }
}
