/**
 * The live broker switch of a di app: watches the transport document the app was configured
 * from, and when it changes, validates it, builds the new transport and hands it to the
 * `SwitchableTransport` under the app's `Bus` — one instance at a time, ordered by a lock in the
 * same config store. Everything that happens is told on the app's `events$`; every refusal and
 * failure also on `errors$`. The mechanics of a switch are in `switchable-transport.ts`.
 */

import type { ConfigStore, LockHandle, Revision } from '@switchyard/config'
import {
  ConfigError,
  isSwitchyardError,
  type SwitchyardError,
  TimeoutError,
  TransportClosedError,
} from '@switchyard/core'
import { toError } from '@switchyard/core/spi'
import { Subject, type Subscription } from 'rxjs'
import type { SwitchableTransport, SwitchOptions, SwitchReport } from './switchable-transport.js'
import type { TransportRegistry } from './transport-registry.js'
import { readDocument, type TransportDocumentRef } from './transport-source.js'

/** Options of `configure({ liveSwitch })`. */
export interface LiveSwitchOptions extends Omit<SwitchOptions, 'onRetired'> {
  /**
   * Name of the config-store lock the instances take, one after the other, to switch (default
   * `switchyard/transport-switch/<document key>`). Every instance of a system that shares the
   * document must use the same name. `false` switches without the lock (one instance only).
   */
  readonly lock?: string | false
  /** TTL of the lock's lease in seconds (default 15): how long a crashed instance blocks the others. */
  readonly lockTtlSeconds?: number
}

/** Something the app did that an operator wants to see (`app.events$`). */
export type AppEvent =
  | {
      /** A new transport document was read and is valid; the instance waits for its turn (the lock). */
      readonly type: 'transport-switch-started'
      readonly revision: Revision
      readonly from: string
      readonly to: string
    }
  | ({
      /** The switch is complete: the old transport is closed (see {@link SwitchReport}). */
      readonly type: 'transport-switched'
      readonly revision: Revision
    } & SwitchReport)
  | {
      /** A new document was not used; the app stays on `current`. The reason is also on `errors$`. */
      readonly type: 'transport-switch-refused'
      readonly revision: Revision | undefined
      readonly current: string
      readonly error: SwitchyardError
    }

/** What a live switch needs from `configure()`. */
export interface LiveSwitchParts {
  readonly transport: SwitchableTransport
  readonly registry: TransportRegistry
  readonly document: TransportDocumentRef
  readonly options: LiveSwitchOptions
  /** A store opened only for the document (closed by `stop()`). */
  readonly ownStore?: ConfigStore
}

function asSwitchyardError(error: unknown): SwitchyardError {
  if (isSwitchyardError(error)) return error
  const cause = toError(error)
  return new ConfigError('transport switch', [cause.message], { cause })
}

/** Runs one app's live switch; created by `configure()`, started and stopped by the app. */
export class LiveSwitch {
  readonly events = new Subject<AppEvent>()
  readonly errors = new Subject<SwitchyardError>()
  readonly #parts: LiveSwitchParts
  #watch: Subscription | undefined
  #lastRevision: Revision | undefined
  #wanted: { revision: Revision | undefined; deleted: boolean } | undefined
  #running: Promise<void> | undefined
  #stopped = false
  #abort = new AbortController()

  constructor(parts: LiveSwitchParts) {
    this.#parts = parts
    this.#lastRevision = parts.document.revision
  }

  /** Starts watching the document (after the app started). */
  start(): void {
    const { store, key } = this.#parts.document
    this.#watch = store.watch$(key).subscribe({
      next: (event) => {
        if (event.type === 'delete') this.#want(event.revision, true)
        else {
          const entry = event.type === 'snapshot' ? event.entries[0] : event.entry
          if (entry !== undefined && entry.revision !== this.#lastRevision) this.#want(entry.revision, false)
        }
      },
      error: (error: unknown) => this.errors.next(asSwitchyardError(error)),
    })
  }

  /** Stops watching and waits (up to `timeoutMs`) for a switch in progress; completes the streams. */
  async stop(timeoutMs: number): Promise<void> {
    this.#stopped = true
    this.#watch?.unsubscribe()
    if (this.#running) {
      let timer: NodeJS.Timeout | undefined
      const bound = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          this.#abort.abort()
          resolve()
        }, timeoutMs)
      })
      await Promise.race([this.#running, bound])
      clearTimeout(timer)
    }
    this.events.complete()
    this.errors.complete()
    await this.#parts.ownStore?.close().catch(() => undefined)
  }

  /** Remembers the newest change; one switch runs at a time and then takes the newest one. */
  #want(revision: Revision | undefined, deleted: boolean): void {
    if (this.#stopped) return
    this.#wanted = { revision, deleted }
    this.#running ??= this.#drainWanted()
  }

  async #drainWanted(): Promise<void> {
    try {
      while (this.#wanted !== undefined && !this.#stopped) {
        const wanted = this.#wanted
        this.#wanted = undefined
        await this.#apply(wanted.revision, wanted.deleted)
      }
    } finally {
      // In the same turn as the last check, so a change arriving now starts a new round.
      this.#running = undefined
    }
  }

  #refuse(revision: Revision | undefined, error: unknown): void {
    const reason = asSwitchyardError(error)
    this.events.next({
      type: 'transport-switch-refused',
      revision,
      current: this.#parts.transport.kind,
      error: reason,
    })
    this.errors.next(reason)
  }

  async #apply(revision: Revision | undefined, deleted: boolean): Promise<void> {
    const { transport, registry, document, options } = this.#parts
    this.#lastRevision = revision
    if (deleted) {
      this.#refuse(
        revision,
        new ConfigError(`transport document ${JSON.stringify(document.key)}`, [
          `it was deleted; the app stays on ${transport.kind}. Put a valid document to switch`,
        ]),
      )
      return
    }
    let next: Awaited<ReturnType<TransportRegistry['create']>>
    let loadedRevision: Revision | undefined
    try {
      const loaded = await readDocument(document.store, document.key, registry)
      loadedRevision = loaded.document?.revision ?? revision
      this.#lastRevision = loadedRevision
      next = await registry.create(loaded.config, loaded.what)
    } catch (error) {
      this.#refuse(revision, error)
      return
    }
    const at = loadedRevision ?? revision ?? ''
    this.events.next({ type: 'transport-switch-started', revision: at, from: transport.kind, to: next.kind })
    let lock: LockHandle | undefined
    const release = () => {
      const held = lock
      lock = undefined
      void held?.release().catch(() => undefined)
    }
    try {
      if (options.lock !== false) {
        lock = await document.store.lock(options.lock ?? `switchyard/transport-switch/${document.key}`, {
          ttlSeconds: options.lockTtlSeconds ?? 15,
          signal: this.#abort.signal,
        })
      }
      if (this.#stopped) throw new TransportClosedError('switch transport (the app is stopping)')
      const report = await transport.switchTo(next, { ...options, onRetired: release })
      this.events.next({ type: 'transport-switched', revision: at, ...report })
      for (const left of report.leftBehind) {
        this.errors.next(
          new TimeoutError(
            `Forwarding ${left.topic} (group ${left.group}) from ${report.from} to ${report.to}`,
            options.forwardTimeoutMs ?? 60_000,
            { context: { topic: left.topic, group: left.group } },
          ),
        )
      }
    } catch (error) {
      await next.close({ drain: false }).catch(() => undefined)
      this.#refuse(at, error)
    } finally {
      release()
    }
  }
}
