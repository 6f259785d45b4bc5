/**
 * `Supervisor`: restarts the Bus's failed `handle` subscriptions, in the manner of an OTP supervisor.
 *
 * A child is one `handle` subscription. When its transport stream fails (a queue deleted under it,
 * permissions revoked, a broker error the transport gives up on), the supervisor decides: restart
 * it after a backoff (`one_for_one`), restart it and every sibling (`one_for_all`), or — when more
 * than `maxRestarts` restarts happened within `withinMs` — escalate: the child stays failed, the Bus
 * reports `escalated` (in `bus.supervision()` and a `supervision-escalated` event) and `onEscalate`
 * runs (e.g. to exit so the orchestrator restarts the process). One child's failure never stops
 * another's. Errors a restart cannot fix (invalid topic or options, a deliberate close) are never
 * restarted. All timing is on the Bus scheduler (virtual time in tests). Internal to core; the
 * options and report types are public in `bus-options.ts`.
 */
import type { SupervisionEscalation, SupervisionOptions, SupervisionReport } from './bus-options.js'
import { ConfigError, isSwitchyardError } from './errors.js'

/** What the supervisor needs from a child (a `HandlerRun`). */
export interface SupervisedChild {
  readonly topic: string
  readonly group: string | undefined
  /** Restarts recorded for this child (all time). */
  restarts: number
  /** `running`, `restarting` (waiting for its backoff), `failed` (escalated) or `stopped`. */
  readonly state: 'running' | 'restarting' | 'failed' | 'stopped'
  /** Drops the current stream (if any) and subscribes again after `delayMs`. */
  restartAfter(delayMs: number, error: Error): void
}

/** Resolved supervision options. */
export interface ResolvedSupervision {
  readonly strategy: 'one_for_one' | 'one_for_all'
  readonly maxRestarts: number
  readonly withinMs: number
  readonly backoff: { readonly initialMs: number; readonly maxMs: number; readonly factor: number }
  readonly onEscalate: ((escalation: SupervisionEscalation) => void) | undefined
}

const strategies = ['one_for_one', 'one_for_all'] as const
const known = new Set(['strategy', 'maxRestarts', 'withinMs', 'backoff', 'onEscalate'])
const knownBackoff = new Set(['initialMs', 'maxMs', 'factor'])

/** Validates `BusOptions.supervision`; `false` turns supervision off. Throws `ConfigError` naming each bad field. */
export function resolveSupervision(
  options: SupervisionOptions | false | undefined,
): ResolvedSupervision | undefined {
  if (options === false) return undefined
  const o = (options ?? {}) as Record<string, unknown>
  const issues: string[] = []
  const bad = (field: string, rule: string, value: unknown): void => {
    issues.push(
      `supervision.${field} ${rule}, got ${typeof value === 'function' ? 'a function' : (JSON.stringify(value) ?? String(value))}`,
    )
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) {
    throw new ConfigError('Bus options', ['supervision must be an object or false'], {
      context: { field: 'supervision' },
    })
  }
  for (const field of Object.keys(o))
    if (!known.has(field))
      issues.push(`supervision.${field} is not an option (known: ${[...known].join(', ')})`)
  const number = (field: string, value: unknown, fallback: number, min: number, integer: boolean): number => {
    if (value === undefined) return fallback
    if (
      typeof value !== 'number' ||
      !Number.isFinite(value) ||
      value < min ||
      (integer && !Number.isInteger(value))
    ) {
      bad(field, `must be ${integer ? 'an integer' : 'a number'} >= ${min}`, value)
      return fallback
    }
    return value
  }
  const strategy = o.strategy ?? 'one_for_one'
  if (!strategies.includes(strategy as (typeof strategies)[number]))
    bad('strategy', "must be 'one_for_one' or 'one_for_all'", strategy)
  const b = (o.backoff ?? {}) as Record<string, unknown>
  if (typeof b !== 'object' || b === null) bad('backoff', 'must be an object', o.backoff)
  else
    for (const field of Object.keys(b))
      if (!knownBackoff.has(field))
        issues.push(`supervision.backoff.${field} is not an option (known: initialMs, maxMs, factor)`)
  if (o.onEscalate !== undefined && typeof o.onEscalate !== 'function')
    bad('onEscalate', 'must be a function', o.onEscalate)
  const resolved: ResolvedSupervision = {
    strategy: strategy as ResolvedSupervision['strategy'],
    maxRestarts: number('maxRestarts', o.maxRestarts, 5, 0, true),
    withinMs: number('withinMs', o.withinMs, 60_000, 1, false),
    backoff: {
      initialMs: number('backoff.initialMs', b?.initialMs, 200, 0, false),
      maxMs: number('backoff.maxMs', b?.maxMs, 30_000, 0, false),
      factor: number('backoff.factor', b?.factor, 2, 1, false),
    },
    onEscalate: o.onEscalate as ResolvedSupervision['onEscalate'],
  }
  if (issues.length > 0) throw new ConfigError('Bus options', issues, { context: { field: 'supervision' } })
  return resolved
}

/** Errors no restart can fix: the same subscribe would fail the same way, or the stop was meant. */
function permanent(error: Error): boolean {
  return (
    isSwitchyardError(error, 'ConfigError') ||
    isSwitchyardError(error, 'InvalidTopicError') ||
    isSwitchyardError(error, 'TransportClosedError')
  )
}

export class Supervisor {
  readonly #options: ResolvedSupervision
  readonly #now: () => number
  readonly #children = new Set<SupervisedChild>()
  /** Restart times within the window: per child (one_for_one) or for the whole Bus (one_for_all). */
  readonly #history = new Map<SupervisedChild | 'all', number[]>()
  #escalated = false

  constructor(options: ResolvedSupervision, now: () => number) {
    this.#options = options
    this.#now = now
  }

  add(child: SupervisedChild): void {
    this.#children.add(child)
  }

  /** A stopped child is forgotten (a failed one is kept: it is what `supervision()` must show). */
  remove(child: SupervisedChild): void {
    this.#children.delete(child)
    this.#history.delete(child)
  }

  /**
   * A child's stream failed. Returns `true` when a restart was scheduled (for this child and, with
   * `one_for_all`, every running sibling), or `false` when the child must fail: a permanent error,
   * or escalation (then `escalation` is filled in and reported by the caller).
   */
  failed(
    child: SupervisedChild,
    error: Error,
  ): { restart: true } | { restart: false; escalation?: SupervisionEscalation } {
    if (permanent(error)) return { restart: false }
    const { strategy, maxRestarts, withinMs, backoff } = this.#options
    const key = strategy === 'one_for_all' ? 'all' : child
    const now = this.#now()
    const recent = (this.#history.get(key) ?? []).filter((at) => now - at < withinMs)
    if (recent.length >= maxRestarts) {
      this.#history.set(key, recent)
      const escalation: SupervisionEscalation = {
        topic: child.topic,
        group: child.group,
        error,
        restarts: recent.length,
        withinMs,
        strategy,
      }
      if (!this.#escalated) {
        this.#escalated = true
        try {
          this.#options.onEscalate?.(escalation)
        } catch {
          // The callback's own failure must not stop the Bus from reporting the escalation.
        }
      }
      return { restart: false, escalation }
    }
    recent.push(now)
    this.#history.set(key, recent)
    const delayMs = Math.min(backoff.maxMs, backoff.initialMs * backoff.factor ** (recent.length - 1))
    const restarting =
      strategy === 'one_for_all'
        ? [...this.#children].filter((c) => c.state === 'running' || c === child)
        : [child]
    for (const c of restarting) {
      c.restarts++
      c.restartAfter(delayMs, error)
    }
    return { restart: true }
  }

  /** What `bus.supervision()` returns. */
  report(): SupervisionReport {
    const { strategy, maxRestarts, withinMs } = this.#options
    return {
      strategy,
      maxRestarts,
      withinMs,
      escalated: this.#escalated,
      children: [...this.#children].map((c) => ({
        topic: c.topic,
        group: c.group,
        state: c.state,
        restarts: c.restarts,
      })),
    }
  }
}
