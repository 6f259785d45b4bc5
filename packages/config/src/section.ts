/**
 * Typed sections: one key validated by a Standard Schema (zod, valibot, arktype, …).
 *
 * `put` validates before writing, so an invalid value never reaches the store. Values that arrive
 * by watch are validated too: a valid one is emitted, an invalid one is reported on `errors$` as a
 * `ConfigError` naming the field while the last valid value stays in force; so is a value whose
 * secret cannot be opened (`SecretKeyError`) and a delete. A key not written yet is no error: the
 * section simply has no value until it is. Not a store: it reads and writes through the
 * `ConfigStore` API and a watch the store hands it.
 */
import type { StandardSchemaV1 } from '@standard-schema/spec'
import { ConfigError, type SecretKeyError, type SwitchyardError } from '@switchyard/core'
import { concatMap, filter, map, type Observable, Subject, share } from 'rxjs'
import type {
  ConfigEntry,
  ConfigEvent,
  ConfigSection,
  ConfigStore,
  PutOptions,
  WriteResult,
} from './config-store.js'

/** One decoded watch event (if anything is left of it) and the entries skipped as unreadable. */
export interface WatchOutcome<T> {
  readonly event: ConfigEvent<T> | undefined
  readonly failures: readonly SwitchyardError[]
}

/** Formats a Standard Schema issue path as `a.b[0].c`. */
export function issuePath(issue: StandardSchemaV1.Issue): string {
  let out = ''
  for (const segment of issue.path ?? []) {
    const k = typeof segment === 'object' ? segment.key : segment
    out += typeof k === 'number' ? `[${k}]` : out === '' ? String(k) : `.${String(k)}`
  }
  return out
}

/** Validates `value`; resolves the output or rejects with a `ConfigError` naming the first bad field. */
export async function validateWith<S extends StandardSchemaV1>(
  schema: S,
  value: unknown,
  what: string,
  key: string,
): Promise<StandardSchemaV1.InferOutput<S>> {
  const result = await schema['~standard'].validate(value)
  if (result.issues === undefined) return result.value as StandardSchemaV1.InferOutput<S>
  const issues = result.issues.map((i) => {
    const path = issuePath(i)
    return path === '' ? i.message : `${path}: ${i.message}`
  })
  const first = result.issues[0]
  throw new ConfigError(what, issues, {
    context: { key, field: first === undefined ? '' : issuePath(first) },
  })
}

/** The `ConfigSection` behind `store.section(key, schema)`. */
export class SchemaSection<S extends StandardSchemaV1>
  implements ConfigSection<StandardSchemaV1.InferOutput<S>>
{
  readonly value$: Observable<StandardSchemaV1.InferOutput<S>>
  readonly #errors = new Subject<ConfigError | SecretKeyError>()
  #current: StandardSchemaV1.InferOutput<S> | undefined

  constructor(
    private readonly store: ConfigStore,
    readonly key: string,
    private readonly schema: S,
    watch: Observable<WatchOutcome<unknown>>,
    closed: Observable<void>,
  ) {
    closed.subscribe(() => this.#errors.complete())
    const what = `configuration section ${JSON.stringify(key)}`
    this.value$ = watch.pipe(
      concatMap(async ({ event, failures }) => {
        // Report after the subscriber's own synchronous code, as values are (validation is
        // async): `value$` then `errors$` subscribed in one go both see the first event.
        await Promise.resolve()
        for (const failure of failures) this.#errors.next(failure as SecretKeyError)
        if (event === undefined) return { ok: false as const }
        if (event.type === 'delete') {
          this.#errors.next(
            new ConfigError(
              what,
              [`the key was deleted at revision ${event.revision}; keeping the last valid value`],
              { context: { key, field: '', revision: event.revision } },
            ),
          )
          return { ok: false as const }
        }
        // Not written yet (or unreadable, reported above): no value yet, and nothing is wrong.
        if (event.type === 'snapshot' && event.entries.length === 0) return { ok: false as const }
        const value = event.type === 'snapshot' ? event.entries[0]?.value : event.entry.value
        try {
          const parsed = await validateWith(schema, value, what, key)
          this.#current = parsed
          return { ok: true as const, value: parsed }
        } catch (error) {
          this.#errors.next(error as ConfigError)
          return { ok: false as const }
        }
      }),
      filter((r) => r.ok),
      map((r) => (r as { value: StandardSchemaV1.InferOutput<S> }).value),
      share(),
    )
  }

  get errors$(): Observable<ConfigError | SecretKeyError> {
    return this.#errors.asObservable()
  }

  get current(): StandardSchemaV1.InferOutput<S> | undefined {
    return this.#current
  }

  async get(): Promise<ConfigEntry<StandardSchemaV1.InferOutput<S>> | undefined> {
    const entry = await this.store.get(this.key)
    if (entry === undefined) return undefined
    const value = await validateWith(
      this.schema,
      entry.value,
      `configuration section ${JSON.stringify(this.key)}`,
      this.key,
    )
    return { ...entry, value }
  }

  async put(value: StandardSchemaV1.InferOutput<S>, options?: PutOptions): Promise<WriteResult> {
    await validateWith(this.schema, value, `configuration section ${JSON.stringify(this.key)}`, this.key)
    return this.store.put(this.key, value, options)
  }
}
