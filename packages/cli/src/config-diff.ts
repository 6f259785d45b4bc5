/**
 * The difference between two configuration values, path by path (`limits.rate: 10 → 20`), for
 * `switchyard config diff`. Pure; secrets compare and print as `[secret]` through their `toJSON`.
 */

export interface Change {
  /** Dotted path (`limits.rate`, `hosts[1]`); `(root)` for a scalar value. */
  readonly path: string
  readonly kind: 'added' | 'removed' | 'changed'
  readonly before?: unknown
  readonly after?: unknown
}

function flatten(value: unknown, path: string, into: Map<string, string>): void {
  const plain = value !== null && typeof value === 'object' && !('toJSON' in (value as object))
  if (Array.isArray(value)) {
    if (value.length === 0) into.set(path || '(root)', '[]')
    for (const [i, v] of value.entries()) flatten(v, `${path}[${i}]`, into)
  } else if (plain) {
    const entries = Object.entries(value as Record<string, unknown>)
    if (entries.length === 0) into.set(path || '(root)', '{}')
    for (const [k, v] of entries) flatten(v, path ? `${path}.${k}` : k, into)
  } else {
    into.set(path || '(root)', JSON.stringify(value) ?? 'null')
  }
}

/** Changes from `before` to `after` (either may be `undefined`: the key did not exist), sorted by path. */
export function diffValues(before: unknown, after: unknown): Change[] {
  const a = new Map<string, string>()
  const b = new Map<string, string>()
  if (before !== undefined) flatten(before, '', a)
  if (after !== undefined) flatten(after, '', b)
  const changes: Change[] = []
  for (const path of new Set([...a.keys(), ...b.keys()])) {
    const x = a.get(path)
    const y = b.get(path)
    if (x === y) continue
    if (x === undefined) changes.push({ path, kind: 'added', after: JSON.parse(y as string) })
    else if (y === undefined) changes.push({ path, kind: 'removed', before: JSON.parse(x) })
    else changes.push({ path, kind: 'changed', before: JSON.parse(x), after: JSON.parse(y) })
  }
  return changes.sort((p, q) => p.path.localeCompare(q.path))
}
