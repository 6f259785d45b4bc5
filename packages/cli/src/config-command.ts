/**
 * `switchyard config get|put|watch|history|rollback|diff`: the etcd `ConfigStore` of
 * `@switchyard/etcd`, reached with `--etcd` / `SWITCHYARD_ETCD_ENDPOINTS` (and the namespace and
 * secret key variables `@switchyard/di` reads). Values marked secret print as `[secret]` unless
 * `--reveal` is given, which needs the key (`SWITCHYARD_SECRETS_KEY`). Every write goes through
 * the store, so it is audited (author, time, comment) and validated like an app's own write.
 */
import { userInfo } from 'node:os'
import { type ConfigEntry, type ConfigStore, type HistoryEntry, Secret } from '@switchyard/config'
import { diffValues } from './config-diff.js'
import { openConfigStore } from './connection.js'
import { aborted, type CommandContext } from './context.js'
import { CliError, ExitCode } from './exit-codes.js'
import { isoTime, truncate } from './output.js'
import { readPayload } from './payload.js'

/** `value` with every secret opened (`--reveal`); a secret without its key throws `SecretKeyError`. */
export function reveal(value: unknown): unknown {
  if (Secret.is(value)) return value.reveal()
  if (Array.isArray(value)) return value.map(reveal)
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, reveal(v)]))
  }
  return value
}

/** A value as printed: secrets redacted (their `toJSON`) unless revealed. */
export function shown(value: unknown, revealSecrets: boolean): unknown {
  return JSON.parse(JSON.stringify(revealSecrets ? reveal(value) : value) ?? 'null')
}

function author(flag: string | undefined): string {
  if (flag) return flag
  try {
    return `${userInfo().username} (switchyard cli)`
  } catch {
    return 'switchyard cli'
  }
}

async function withStore<T>(ctx: CommandContext, run: (store: ConfigStore) => Promise<T>): Promise<T> {
  const store = openConfigStore(ctx.env)
  try {
    return await run(store)
  } finally {
    await store.close().catch(() => undefined)
  }
}

function notFound(key: string): CliError {
  return new CliError(
    `No config key ${JSON.stringify(key)}. Check the key and the namespace (--namespace / SWITCHYARD_ETCD_NAMESPACE), ` +
      'or list a prefix with: switchyard config get --prefix /',
    ExitCode.badInput,
  )
}

export interface GetFlags {
  readonly prefix: boolean
  readonly reveal: boolean
}

export async function configGet(ctx: CommandContext, key: string, flags: GetFlags): Promise<void> {
  const { out } = ctx
  await withStore(ctx, async (store) => {
    const entries: readonly ConfigEntry[] = flags.prefix
      ? await store.list(key)
      : await store.get(key).then((e) => (e === undefined ? [] : [e]))
    if (entries.length === 0 && !flags.prefix) throw notFound(key)
    const records = entries.map((e) => ({
      key: e.key,
      revision: e.revision,
      stale: e.stale,
      value: shown(e.value, flags.reveal),
    }))
    if (out.json) {
      out.data(flags.prefix ? records : records[0])
      return
    }
    if (!flags.prefix) {
      const r = records[0] as (typeof records)[number]
      out.line(JSON.stringify(r.value, null, 2))
      out.note(
        out.c.dim(`revision ${r.revision}${r.stale ? ' (stale: etcd unreachable, last value seen)' : ''}`),
      )
      return
    }
    out.table(
      records,
      [
        { header: 'KEY', get: (r) => r.key },
        { header: 'REVISION', get: (r) => r.revision },
        { header: 'VALUE', get: (r) => truncate(JSON.stringify(r.value), 100) },
      ],
      `(no keys under ${key})`,
    )
  })
}

export interface PutFlags {
  readonly secret: boolean
  readonly expectRevision?: string
  readonly comment?: string
  readonly author?: string
}

export async function configPut(
  ctx: CommandContext,
  key: string,
  valueArg: string | undefined,
  flags: PutFlags,
): Promise<void> {
  const value = await readPayload(valueArg, 'json')
  await withStore(ctx, async (store) => {
    const result = await store.put(key, value, {
      author: author(flags.author),
      ...(flags.secret ? { secret: true } : {}),
      ...(flags.expectRevision === undefined ? {} : { expectedRevision: flags.expectRevision }),
      ...(flags.comment === undefined ? {} : { comment: flags.comment }),
    })
    if (ctx.out.json) ctx.out.data({ key, ...result })
    else {
      ctx.out.line(
        `${ctx.out.c.green('put')} ${key} at revision ${result.revision}` +
          `${result.previousRevision ? ` (was ${result.previousRevision})` : ' (new key)'}`,
      )
    }
  })
}

export interface HistoryFlags {
  readonly reveal: boolean
}

function historyRecord(h: HistoryEntry, revealSecrets: boolean): Record<string, unknown> {
  return {
    revision: h.revision,
    action: h.action,
    value: h.action === 'put' ? shown(h.value, revealSecrets) : null,
    author: h.audit?.author ?? null,
    time: h.audit ? isoTime(h.audit.time) : null,
    comment: h.audit?.comment ?? null,
  }
}

export async function configHistory(ctx: CommandContext, key: string, flags: HistoryFlags): Promise<void> {
  const { out } = ctx
  await withStore(ctx, async (store) => {
    const history = await store.history(key)
    if (history.length === 0) throw notFound(key)
    const records = history.map((h) => historyRecord(h, flags.reveal))
    if (out.json) {
      out.data(records)
      return
    }
    out.table(records, [
      { header: 'REVISION', get: (r) => String(r.revision) },
      { header: 'ACTION', get: (r) => String(r.action) },
      { header: 'TIME', get: (r) => String(r.time ?? '-') },
      { header: 'AUTHOR', get: (r) => String(r.author ?? '-') },
      { header: 'COMMENT', get: (r) => String(r.comment ?? '') },
      { header: 'VALUE', get: (r) => truncate(JSON.stringify(r.value), 80) },
    ])
  })
}

export interface RollbackFlags {
  readonly comment?: string
  readonly author?: string
}

export async function configRollback(
  ctx: CommandContext,
  key: string,
  revision: string,
  flags: RollbackFlags,
): Promise<void> {
  await withStore(ctx, async (store) => {
    const history = await store.history(key)
    if (history.length === 0) throw notFound(key)
    if (!history.some((h) => h.revision === revision && h.action === 'put')) {
      throw new CliError(
        `Key ${JSON.stringify(key)} has no value at revision ${revision}. ` +
          `Its revisions: ${history.map((h) => h.revision).join(', ')} (see: switchyard config history ${key}).`,
        ExitCode.badInput,
      )
    }
    const result = await store.rollback(key, revision, {
      author: author(flags.author),
      comment: flags.comment ?? `rollback to ${revision}`,
    })
    if (ctx.out.json) ctx.out.data({ key, rolledBackTo: revision, ...result })
    else
      ctx.out.line(
        `${ctx.out.c.green('rolled back')} ${key} to revision ${revision}: now revision ${result.revision}`,
      )
  })
}

export async function configDiff(
  ctx: CommandContext,
  key: string,
  from: string,
  to: string | undefined,
  flags: HistoryFlags,
): Promise<void> {
  const { out } = ctx
  await withStore(ctx, async (store) => {
    const history = await store.history(key)
    if (history.length === 0) throw notFound(key)
    const at = (revision: string): unknown => {
      const h = history.find((e) => e.revision === revision)
      if (h === undefined) {
        throw new CliError(
          `Key ${JSON.stringify(key)} has no revision ${revision}; its revisions: ${history.map((e) => e.revision).join(', ')}.`,
          ExitCode.badInput,
        )
      }
      return h.action === 'put' ? shown(h.value, flags.reveal) : undefined
    }
    const current = history[history.length - 1] as HistoryEntry
    const toRevision = to ?? current.revision
    const changes = diffValues(at(from), at(toRevision))
    if (out.json) {
      out.data({ key, from, to: toRevision, changes })
      return
    }
    out.line(out.c.dim(`${key}: revision ${from} → ${toRevision}`))
    if (changes.length === 0) out.line(out.c.dim('(no changes)'))
    for (const ch of changes) {
      if (ch.kind === 'added') out.line(out.c.green(`+ ${ch.path}: ${JSON.stringify(ch.after)}`))
      else if (ch.kind === 'removed') out.line(out.c.red(`- ${ch.path}: ${JSON.stringify(ch.before)}`))
      else out.line(out.c.yellow(`~ ${ch.path}: ${JSON.stringify(ch.before)} → ${JSON.stringify(ch.after)}`))
    }
  })
}

export interface WatchFlags {
  readonly prefix: boolean
  readonly reveal: boolean
  readonly count?: number
}

/** Prints the snapshot, then each change, until Ctrl-C or `--count` changes. */
export async function configWatch(ctx: CommandContext, key: string, flags: WatchFlags): Promise<void> {
  const { out } = ctx
  await withStore(ctx, async (store) => {
    let changes = 0
    await new Promise<void>((resolve, reject) => {
      const subscription = store.watch$(flags.prefix ? { prefix: key } : key).subscribe({
        next: (event) => {
          if (event.type === 'snapshot') {
            for (const e of event.entries) {
              if (out.json)
                out.data({
                  type: 'snapshot',
                  key: e.key,
                  revision: e.revision,
                  value: shown(e.value, flags.reveal),
                })
              else
                out.line(
                  `${out.c.dim(`snapshot r${e.revision}`)} ${e.key} ${JSON.stringify(shown(e.value, flags.reveal))}`,
                )
            }
            return
          }
          changes++
          if (event.type === 'put') {
            const e = event.entry
            if (out.json)
              out.data({ type: 'put', key: e.key, revision: e.revision, value: shown(e.value, flags.reveal) })
            else
              out.line(
                `${out.c.green(`put r${e.revision}`)} ${e.key} ${JSON.stringify(shown(e.value, flags.reveal))}`,
              )
          } else if (out.json) out.data({ type: 'delete', key: event.key, revision: event.revision })
          else out.line(`${out.c.red(`delete r${event.revision}`)} ${event.key}`)
          if (flags.count !== undefined && changes >= flags.count) {
            subscription.unsubscribe()
            resolve()
          }
        },
        error: reject,
        complete: resolve,
      })
      aborted(ctx.signal).then(() => {
        subscription.unsubscribe()
        resolve()
      })
    })
  })
}
