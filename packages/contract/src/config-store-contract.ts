/**
 * `configStoreContract`: the suite every `ConfigStore` implementation must pass, as a function
 * that registers vitest tests (in the spirit of Effect's `KeyValueStoreTest.suite`).
 *
 * It imports no implementation: the caller passes a factory. Each test works in its own random
 * namespace, and the stores a test makes with the same namespace must be clients of the same
 * backend (that is how locks, elections and watches across clients are tested). Scenarios that
 * need a hook (an outage, a restart, a cut link) are registered only when the hook is given.
 */
import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import type { ConfigEvent, ConfigSecret, ConfigStore, SecretKeyring } from '@switchyard/config'
import { isSwitchyardError } from '@switchyard/core'
import { afterEach, describe, expect, it } from 'vitest'
import { expectSwitchyardError } from './expect-switchyard-error.js'
import { uniqueName } from './unique-name.js'
import { waitFor, withDeadline } from './wait-for.js'

/** What the suite asks the factory for. */
export interface ConfigStoreFactoryOptions {
  /** Namespace of this test (unique, ends with `/`); stores made with the same one share data. */
  readonly namespace: string
  readonly secrets?: SecretKeyring
  readonly author?: string
  /** Connect through the link that `link.cut()` / `link.heal()` control (see the options). */
  readonly flaky?: boolean
}

/** Hooks that enable the outage scenarios. */
export interface ConfigStoreContractOptions {
  /** Restarts the store's server (etcd) and resolves once it answers again. */
  readonly restart?: () => Promise<void>
  /** Stops the store's server; `start` brings it back. Both needed for the outage test. */
  readonly stop?: () => Promise<void>
  readonly start?: () => Promise<void>
  /**
   * Cuts and heals the connection of stores made with `flaky: true`, while the others keep
   * working: this is how changes are made "while the watcher was disconnected".
   */
  readonly link?: { readonly cut: () => Promise<void>; readonly heal: () => Promise<void> }
  /**
   * Starts a separate process that opens a store in `namespace`, puts `{ host: 'a', port: 1 }` at
   * `mode`, subscribes to a section's `value$` of `mode`; once that has its value, subscribes to
   * `watch$({ prefix: '' })` and closes the store from inside the watch's first event. It prints a
   * line per stream that ends: `watch completed` / `section completed` (or `… error <name>`). It
   * must not call `process.exit`: the scenario asserts that it exits on its own.
   */
  readonly spawnWatcher?: (namespace: string) => ChildProcess
  /** Time allowed for each wait, in ms (default 15,000). */
  readonly timeoutMs?: number
}

type Factory = (options: ConfigStoreFactoryOptions) => ConfigStore | Promise<ConfigStore>

const keyring = (id: string): SecretKeyring => ({ current: { id, key: randomBytes(32) } })

/** Any Standard Schema, named without depending on `@standard-schema/spec` here. */
type AnySchema = Parameters<ConfigStore['section']>[1]

/** A small hand-written Standard Schema: `{ host: string, port: 1..65535 }`. */
const endpointSchema: AnySchema = {
  '~standard': {
    version: 1,
    vendor: 'switchyard-contract',
    validate: (value) => {
      const v = value as { host?: unknown; port?: unknown } | null
      if (typeof v !== 'object' || v === null) return { issues: [{ message: 'must be an object' }] }
      if (typeof v.host !== 'string' || v.host === '')
        return { issues: [{ message: 'must be a non-empty string', path: ['host'] }] }
      if (typeof v.port !== 'number' || !Number.isInteger(v.port) || v.port < 1 || v.port > 65535) {
        return { issues: [{ message: 'must be an integer 1..65535', path: ['port'] }] }
      }
      return { value: { host: v.host, port: v.port } }
    },
  },
}

/** Collects a watch stream's events. */
function record<T>(store: ConfigStore, target: string | { prefix: string }) {
  const events: ConfigEvent<T>[] = []
  let error: unknown
  const subscription = store.watch$<T>(target).subscribe({
    next: (e) => events.push(e),
    error: (e: unknown) => {
      error = e
    },
  })
  const puts = () => events.flatMap((e) => (e.type === 'put' ? [e.entry.value] : []))
  return { events, puts, subscription, error: () => error }
}

/**
 * Registers the ConfigStore contract tests for one implementation.
 *
 * @example
 * const backend = new MemoryConfigBackend()
 * configStoreContract('memory', (o) => new MemoryConfigStore({ ...o, backend }))
 */
export function configStoreContract(
  name: string,
  makeStore: Factory,
  options: ConfigStoreContractOptions = {},
): void {
  const timeoutMs = options.timeoutMs ?? 15_000
  const opened: ConfigStore[] = []
  let namespace = ''

  const open = async (o: Omit<ConfigStoreFactoryOptions, 'namespace'> = {}): Promise<ConfigStore> => {
    const store = await makeStore({ namespace, ...o })
    opened.push(store)
    return store
  }

  describe(`ConfigStore contract: ${name}`, () => {
    afterEach(async () => {
      if (options.link) await options.link.heal()
      const stores = opened.splice(0)
      await Promise.all(
        stores.map((s) => withDeadline(s.close(), timeoutMs, 'closing a store').catch(() => undefined)),
      )
    })

    const fresh = (): void => {
      namespace = `${uniqueName('contract')}/`
    }

    it('gets, lists and deletes values, with revisions', async () => {
      fresh()
      const store = await open()
      expect(await store.get('missing')).toBeUndefined()
      const a = await store.put('app/a', { n: 1 })
      const b = await store.put('app/b', 'two')
      expect(BigInt(b.revision)).toBeGreaterThan(BigInt(a.revision))
      expect(a.previousRevision).toBeUndefined()
      const got = await store.get<{ n: number }>('app/a')
      expect(got).toMatchObject({ key: 'app/a', value: { n: 1 }, revision: a.revision, stale: false })
      const listed = await store.list('app/')
      expect(listed.map((e) => [e.key, e.value])).toEqual([
        ['app/a', { n: 1 }],
        ['app/b', 'two'],
      ])
      const deleted = await store.delete('app/a')
      expect(deleted?.previousRevision).toBe(a.revision)
      expect(await store.delete('app/a')).toBeUndefined()
      expect(await store.get('app/a')).toBeUndefined()
      await expectSwitchyardError(() => store.put('__audit/x', 1), 'ConfigError')
    })

    it('refuses a compare-and-swap based on a stale read', async () => {
      fresh()
      const [a, b] = [await open(), await open()]
      const first = await a.put('limits', { max: 1 })
      const read = await b.get('limits')
      expect(read?.revision).toBe(first.revision)
      const second = await a.put('limits', { max: 2 }, { expectedRevision: first.revision })
      expect(second.previousRevision).toBe(first.revision)
      const error = await expectSwitchyardError(
        b.put('limits', { max: 99 }, { expectedRevision: first.revision }),
        'RevisionConflictError',
      )
      expect(error.context.key).toBe('limits')
      await expectSwitchyardError(
        b.put('limits', { max: 99 }, { expectedRevision: '0' }),
        'RevisionConflictError',
      )
      expect((await a.get('limits'))?.value).toEqual({ max: 2 })
      const created = await b.put('fresh', 1, { expectedRevision: '0' })
      expect(created.previousRevision).toBeUndefined()
      // Deleting an absent key, as expected ('0'), changes nothing and leaves no audit record.
      expect(await b.delete('never', { expectedRevision: '0' })).toBeUndefined()
      expect(await b.delete('never')).toBeUndefined()
      expect(await b.history('never')).toEqual([])
      await expectSwitchyardError(b.delete('fresh', { expectedRevision: '0' }), 'RevisionConflictError')
    })

    it('keeps namespaces apart and scopes child stores', async () => {
      fresh()
      const a = await open()
      await a.put('shared-name', 'in-a')
      const other = namespace
      fresh()
      const b = await open()
      expect(await b.get('shared-name')).toBeUndefined()
      namespace = other
      const child = a.child('billing')
      await child.put('limit', 5)
      expect((await a.get('billing/limit'))?.value).toBe(5)
      expect((await child.list('')).map((e) => e.key)).toEqual(['limit'])
    })

    it('watch$ emits the current value first, then every change once and in order', async () => {
      fresh()
      const [writer, reader] = [await open(), await open()]
      await writer.put('counter', 0)
      const one = record<number>(reader, 'counter')
      const all = record<number>(reader, { prefix: 'c' })
      await waitFor(() => one.events.length === 1 && all.events.length === 1, {
        timeoutMs,
        description: 'snapshots',
      })
      const first = one.events[0]
      expect(first?.type === 'snapshot' && first.entries.map((e) => e.value)).toEqual([0])
      for (let i = 1; i <= 20; i++) await writer.put('counter', i)
      await writer.put('counter-other', 'x')
      await writer.delete('counter')
      await waitFor(() => all.events.length === 23, {
        timeoutMs,
        description: () => `23 events, got ${all.events.length}`,
      })
      await waitFor(() => one.events.length === 22, {
        timeoutMs,
        description: () => `22 events, got ${one.events.length}`,
      })
      expect(one.puts()).toEqual(Array.from({ length: 20 }, (_, i) => i + 1))
      expect(one.events[21]).toMatchObject({ type: 'delete', key: 'counter' })
      const revisions = all.events
        .slice(1)
        .map((e) => BigInt(e.type === 'put' ? e.entry.revision : e.type === 'delete' ? e.revision : '0'))
      expect([...revisions].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0))).toEqual(revisions)
      expect(new Set(revisions).size).toBe(revisions.length)
      one.subscription.unsubscribe()
      all.subscription.unsubscribe()
      expect(one.error()).toBeUndefined()
    })

    it('refuses an invalid section update and keeps the last valid value on an invalid change', async () => {
      fresh()
      const [writer, reader] = [await open(), await open()]
      const section = writer.section('endpoint', endpointSchema)
      await section.put({ host: 'db', port: 5432 })
      const error = await expectSwitchyardError(section.put({ host: 'db', port: 70_000 }), 'ConfigError')
      expect(error.context.field).toBe('port')
      expect((await writer.get('endpoint'))?.value).toEqual({ host: 'db', port: 5432 })

      const watched = reader.section('endpoint', endpointSchema)
      const values: unknown[] = []
      const errors: unknown[] = []
      const sub = watched.value$.subscribe((v) => values.push(v))
      const errSub = watched.errors$.subscribe((e) => errors.push(e))
      await waitFor(() => values.length === 1, { timeoutMs, description: 'the first section value' })
      await writer.put('endpoint', { host: '', port: 1 }) // bypasses validation: "from elsewhere"
      await waitFor(() => errors.length === 1, { timeoutMs, description: 'the invalid change reported' })
      expect(isSwitchyardError(errors[0], 'ConfigError') && errors[0].context.field).toBe('host')
      expect(watched.current).toEqual({ host: 'db', port: 5432 })
      await writer.put('endpoint', { host: 'db2', port: 6432 })
      await waitFor(() => values.length === 2, { timeoutMs, description: 'the next valid value' })
      expect(values).toEqual([
        { host: 'db', port: 5432 },
        { host: 'db2', port: 6432 },
      ])
      sub.unsubscribe()
      errSub.unsubscribe()
    })

    it('encrypts secrets, refuses a wrong key and supports key rotation', async () => {
      fresh()
      const k1 = keyring('k1')
      const store = await open({ secrets: k1 })
      const password = 'pa55-w0rd-contract'
      await store.put('db', { user: 'app', password: store.secret(password) })
      const entry = await store.get<{ user: string; password: ConfigSecret<string> }>('db')
      expect(entry?.value.user).toBe('app')
      expect(entry?.value.password.reveal()).toBe(password)
      expect(entry?.value.password.keyId).toBe('k1')
      expect(String(entry?.value.password)).not.toContain(password)
      expect(JSON.stringify(entry?.value)).not.toContain(password)

      const keyless = await open()
      const sealed = (await keyless.get<{ password: ConfigSecret<string> }>('db'))?.value.password
      expect(sealed?.sealed).toBe(true)
      const sealedError = await expectSwitchyardError(() => sealed?.reveal(), 'SecretKeyError')
      expect(sealedError.message).not.toContain(password)

      const wrong = await open({ secrets: { current: { id: 'k1', key: randomBytes(32) } } })
      const wrongError = await expectSwitchyardError(wrong.get('db'), 'SecretKeyError')
      expect(`${wrongError.message} ${JSON.stringify(wrongError.context)}`).not.toContain(password)

      await store.put('whole', 'entire-value-secret', { secret: true })
      const whole = await store.get<ConfigSecret<string>>('whole')
      expect(whole?.value.reveal()).toBe('entire-value-secret')

      const k2 = keyring('k2')
      const rotating = await open({ secrets: { current: k2.current, previous: [k1.current] } })
      const old = await rotating.get('db')
      if (old === undefined) throw new Error('db vanished')
      await rotating.put('db', old.value, { expectedRevision: old.revision })
      const onlyNew = await open({ secrets: k2 })
      const rotated = await onlyNew.get<{ password: ConfigSecret<string> }>('db')
      expect(rotated?.value.password.reveal()).toBe(password)
      expect(rotated?.value.password.keyId).toBe('k2')
      await expectSwitchyardError(store.get('db'), 'SecretKeyError')
    })

    it('lists history with audit records and rolls back as a new audited change', async () => {
      fresh()
      const alice = await open({ author: 'alice' })
      const bob = await open({ author: 'bob' })
      const v1 = await alice.put('flags', { beta: false })
      const v2 = await bob.put('flags', { beta: true }, { comment: 'enable beta' })
      const history = await alice.history<{ beta: boolean }>('flags')
      expect(history.map((h) => [h.revision, h.action, h.value, h.audit?.author])).toEqual([
        [v1.revision, 'put', { beta: false }, 'alice'],
        [v2.revision, 'put', { beta: true }, 'bob'],
      ])
      expect(history[1]?.audit).toMatchObject({
        revision: v2.revision,
        previousRevision: v1.revision,
        comment: 'enable beta',
      })
      expect(typeof history[1]?.audit?.time).toBe('number')

      const back = await alice.rollback('flags', v1.revision)
      expect(back.previousRevision).toBe(v2.revision)
      expect((await bob.get('flags'))?.value).toEqual({ beta: false })
      const after = await bob.history('flags')
      expect(after).toHaveLength(3)
      expect(after[2]).toMatchObject({ revision: back.revision, action: 'put', value: { beta: false } })
      expect(after[2]?.audit).toMatchObject({ author: 'alice', previousRevision: v2.revision })
      expect(after[2]?.audit?.comment).toContain(v1.revision)
      await expectSwitchyardError(alice.rollback('flags', '999999999'), 'ConfigError')
    })

    it('gives a lock to one holder at a time, with timeout and cancellation', async () => {
      fresh()
      const clients = [await open(), await open()]
      const seed = clients[0]
      if (seed === undefined) throw new Error('no client')
      await seed.put('counter', 0)
      let holders = 0
      let maxHolders = 0
      const work = async (store: ConfigStore) => {
        for (let i = 0; i < 5; i++) {
          const lock = await store.lock('counter-lock', { ttlSeconds: 5, timeoutMs })
          holders++
          maxHolders = Math.max(maxHolders, holders)
          const current = (await store.get<number>('counter'))?.value ?? -1000
          await new Promise((resolve) => setImmediate(resolve))
          await store.put('counter', current + 1)
          holders--
          await lock.release()
        }
      }
      await Promise.all(clients.map(work))
      expect(maxHolders).toBe(1)
      expect((await seed.get('counter'))?.value).toBe(10)

      const [a, b] = clients as [ConfigStore, ConfigStore]
      const held = await a.lock('busy', { ttlSeconds: 5 })
      await expectSwitchyardError(b.lock('busy', { timeoutMs: 200 }), 'TimeoutError')
      const controller = new AbortController()
      const cancelled = b.lock('busy', { signal: controller.signal })
      setTimeout(() => controller.abort(), 100)
      await expectSwitchyardError(cancelled, 'CancelledError')
      const waiting = b.lock('busy', { timeoutMs })
      await held.release()
      const next = await waiting
      await next.release()
    })

    it('fails leadership over when the leader goes away', async () => {
      fresh()
      const [a, b] = [await open(), await open()]
      const ea = a.election('scheduler', { candidate: 'a', ttlSeconds: 2 })
      const eb = b.election('scheduler', { candidate: 'b', ttlSeconds: 2 })
      const seenByB: { leader: string | undefined; isLeader: boolean }[] = []
      const sub = eb.leader$.subscribe((s) => seenByB.push(s))
      await ea.campaign()
      let bLeads = false
      const bCampaign = eb.campaign().then(() => {
        bLeads = true
      })
      await waitFor(() => seenByB.some((s) => s.leader === 'a' && !s.isLeader), {
        timeoutMs,
        description: 'b sees a lead',
      })
      expect(bLeads).toBe(false)
      await a.close()
      await withDeadline(bCampaign, timeoutMs, 'b taking over')
      await waitFor(() => seenByB.at(-1)?.leader === 'b' && seenByB.at(-1)?.isLeader === true, {
        timeoutMs,
        description: () => `b leading, saw ${JSON.stringify(seenByB)}`,
      })
      await eb.resign()
      await waitFor(() => seenByB.at(-1)?.leader === undefined, {
        timeoutMs,
        description: 'no leader after resign',
      })
      sub.unsubscribe()
    })

    it('keeps lock and election names exact: no name is a prefix of another', async () => {
      fresh()
      const [a, b] = [await open(), await open()]
      const bound = { ttlSeconds: 5, timeoutMs: 3_000 }
      const deep = await a.lock('jobs/a/b', { ttlSeconds: 5 })
      const shallow = await b.lock('jobs/a', bound) // times out if `jobs/a/b` counts as a contender
      const deeper = await b.lock('jobs/a/b/c', bound)
      await Promise.all([deep.release(), shallow.release(), deeper.release()])

      const inChild = await a.child('billing').lock('x', { ttlSeconds: 5 })
      const atRoot = await b.lock('billing', bound)
      await Promise.all([inChild.release(), atRoot.release()])

      const sub = a.election('el/sub', { candidate: 'a', ttlSeconds: 5 })
      await sub.campaign()
      const observer = a.election('el', { ttlSeconds: 5 })
      const seen: (string | undefined)[] = []
      const watching = observer.leader$.subscribe((state) => seen.push(state.leader))
      const el = b.election('el', { candidate: 'b', ttlSeconds: 5 })
      await withDeadline(el.campaign(), 3_000, 'b leading "el" while a leads "el/sub"')
      await waitFor(() => seen.at(-1) === 'b', {
        timeoutMs,
        description: () => `the observer of "el" seeing b lead, saw ${JSON.stringify(seen)}`,
      })
      expect(seen).not.toContain('a')
      watching.unsubscribe()
      await Promise.all([sub.resign(), el.resign()])
    })

    it('never fails a plain put under contention: 80 concurrent writers from 4 stores all succeed', async () => {
      fresh()
      const stores = [await open(), await open(), await open(), await open()]
      const results = await Promise.all(
        stores.flatMap((store, s) =>
          Array.from({ length: 20 }, (_, i) => store.put('hot', { writer: s, i }, { author: `w${s}` })),
        ),
      )
      expect(results).toHaveLength(80)
      const revisions = results.map((r) => BigInt(r.revision)).sort((x, y) => (x < y ? -1 : x > y ? 1 : 0))
      expect(new Set(revisions).size).toBe(80)
      const last = results.find((r) => BigInt(r.revision) === revisions.at(-1))
      expect((await stores[0]?.get('hot'))?.revision).toBe(last?.revision)
      // Each write names the one before it exactly, in its result and in the audit trail.
      const byRevision = new Map(results.map((r) => [r.revision, r]))
      const history = await (stores[1] as ConfigStore).history('hot')
      expect(history).toHaveLength(80)
      history.forEach((h, i) => {
        const previous = i === 0 ? undefined : history[i - 1]?.revision
        expect(byRevision.get(h.revision)?.previousRevision).toBe(previous)
        expect(h.audit?.previousRevision).toBe(previous)
      })
    })

    it('refuses a value over the request limit with a ConfigError naming the limit; nothing is written', async () => {
      fresh()
      const store = await open()
      const big = 'x'.repeat(2 * 1024 * 1024)
      const error = await expectSwitchyardError(store.put('big', { big }), 'ConfigError')
      expect(error.retryable).toBe(false)
      expect(error.context.key).toBe('big')
      expect(error.context.limitBytes).toEqual(expect.any(Number))
      expect(error.message).toContain(String(error.context.limitBytes))
      expect(await store.get('big')).toBeUndefined()
      expect(await store.history('big')).toEqual([])
      await store.put('big', { big: 'x'.repeat(1024) })
    })

    it('skips and reports a value whose secret cannot be opened; other keys keep flowing', async () => {
      fresh()
      const k1 = keyring('k1')
      const writer = await open({ secrets: k1 })
      await writer.put('cfg/a', 1)
      await writer.put('cfg/bad', { password: writer.secret('hunter2-contract') })
      const wrong = await open({ secrets: { current: { id: 'k1', key: randomBytes(32) } } })
      const storeErrors: { key: unknown; name: string }[] = []
      const errorsSub = wrong.errors$.subscribe((e) => storeErrors.push({ key: e.context.key, name: e.name }))
      const seen = record<unknown>(wrong, { prefix: 'cfg/' })
      const section = wrong.section('cfg/bad', {
        '~standard': { version: 1, vendor: 'contract', validate: (value) => ({ value }) },
      })
      const sectionValues: unknown[] = []
      const sectionErrors: string[] = []
      const subs = [
        section.value$.subscribe((v) => sectionValues.push(v)),
        section.errors$.subscribe((e) => sectionErrors.push(e.name)),
      ]
      await waitFor(() => seen.events.length === 1 && sectionErrors.length === 1, {
        timeoutMs,
        description: () =>
          `the snapshot and the section's error, got ${seen.events.length} / ${sectionErrors.length}`,
      })
      const snapshot = seen.events[0]
      expect(snapshot?.type === 'snapshot' && snapshot.entries.map((e) => e.key)).toEqual(['cfg/a'])
      expect(sectionErrors).toEqual(['SecretKeyError'])
      expect(storeErrors).toContainEqual({ key: 'cfg/bad', name: 'SecretKeyError' })

      await writer.put('cfg/b', 2)
      await writer.put('cfg/bad', { password: writer.secret('hunter3-contract') })
      await writer.put('cfg/c', 3)
      await waitFor(() => seen.puts().length === 2 && sectionErrors.length === 2, {
        timeoutMs,
        description: () =>
          `two later plain writes and a second section error, got ${JSON.stringify(seen.puts())}`,
      })
      expect(seen.puts()).toEqual([2, 3])
      expect(seen.error()).toBeUndefined()
      expect(sectionValues).toEqual([])

      const before = storeErrors.length
      const listed = await wrong.list('cfg/')
      expect(listed.map((e) => e.key)).toEqual(['cfg/a', 'cfg/b', 'cfg/c'])
      expect(storeErrors.length).toBe(before + 1)
      expect(JSON.stringify(storeErrors)).not.toContain('hunter')
      seen.subscription.unsubscribe()
      errorsSub.unsubscribe()
      for (const sub of subs) sub.unsubscribe()
    })

    it('completes watchers and section streams on close, so a process can exit on its own', async () => {
      fresh()
      const store = await open()
      await store.put('mode', { host: 'a', port: 1 })
      let watchDone = false
      let sectionDone = false
      let errorsDone = false
      const section = store.section('mode', endpointSchema)
      const values: unknown[] = []
      const events: unknown[] = []
      const subs = [
        store.watch$({ prefix: '' }).subscribe({
          next: (e) => events.push(e),
          complete: () => {
            watchDone = true
          },
        }),
        section.value$.subscribe({
          next: (v) => values.push(v),
          complete: () => {
            sectionDone = true
          },
        }),
        store.errors$.subscribe({
          complete: () => {
            errorsDone = true
          },
        }),
      ]
      await waitFor(() => events.length === 1 && values.length === 1, {
        timeoutMs,
        description: 'the first events',
      })
      await withDeadline(store.close(), timeoutMs, 'closing the store')
      expect({ watchDone, sectionDone, errorsDone }).toEqual({
        watchDone: true,
        sectionDone: true,
        errorsDone: true,
      })
      for (const sub of subs) sub.unsubscribe()
      await expectSwitchyardError(store.get('mode'), 'TransportClosedError')

      const spawn = options.spawnWatcher
      if (spawn === undefined) return
      const child = spawn(namespace)
      let output = ''
      child.stdout?.on('data', (chunk: Buffer) => {
        output += chunk.toString()
      })
      child.stderr?.on('data', (chunk: Buffer) => {
        output += chunk.toString()
      })
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
      try {
        const code = await withDeadline(
          exited,
          timeoutMs,
          `the watcher process exiting by itself (output: ${output})`,
        )
        expect(output).toContain('watch completed')
        expect(output).toContain('section completed')
        expect(code).toBe(0)
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL')
      }
    })

    const link = options.link
    if (link) {
      it('resumes a watch after a disconnect (and restart): changes made meanwhile seen once, in order', async () => {
        fresh()
        const writer = await open()
        const watcher = await open({ flaky: true })
        await writer.put('k/0', 0)
        const seen = record<number>(watcher, { prefix: 'k/' })
        await waitFor(() => seen.events.length === 1, { timeoutMs, description: 'the snapshot' })
        await writer.put('k/0', 1)
        await waitFor(() => seen.events.length === 2, { timeoutMs, description: 'the first change' })
        await link.cut()
        if (options.restart) await options.restart()
        for (let i = 2; i <= 30; i++) await retryUnavailable(() => writer.put(`k/${i % 3}`, i), timeoutMs)
        await retryUnavailable(() => writer.delete('k/1'), timeoutMs)
        await link.heal()
        await waitFor(() => seen.events.length === 32, {
          timeoutMs,
          description: () => `32 events, got ${seen.events.length}`,
        })
        expect(seen.puts()).toEqual(Array.from({ length: 30 }, (_, i) => i + 1))
        expect(seen.events.at(-1)).toMatchObject({ type: 'delete', key: 'k/1' })
        await writer.put('k/9', 'after')
        await waitFor(() => seen.events.length === 33, {
          timeoutMs,
          description: 'a change after the resume',
        })
        expect(seen.events.filter((e) => e.type === 'snapshot')).toHaveLength(1)
        expect(seen.error()).toBeUndefined()
        seen.subscription.unsubscribe()
      })

      it('serves the last known good value while its link is cut, and recovers', async () => {
        fresh()
        const store = await open({ flaky: true })
        await store.put('mode', 'blue')
        await store.put('other/x', 1)
        expect(await store.get('mode')).toMatchObject({ value: 'blue', stale: false })
        expect(await store.list('mo')).toMatchObject([{ key: 'mode', value: 'blue', stale: false }])
        await link.cut()
        expect(await store.get('mode')).toMatchObject({ value: 'blue', stale: true })
        // A prefix listed before is served stale; one never listed is an outage, as for `get`.
        expect(await store.list('mo')).toMatchObject([{ key: 'mode', value: 'blue', stale: true }])
        expect(await store.list('mode')).toMatchObject([{ key: 'mode', value: 'blue', stale: true }])
        await expectSwitchyardError(store.list('other/'), 'BrokerUnavailableError')
        await expectSwitchyardError(store.list(''), 'BrokerUnavailableError')
        await expectSwitchyardError(
          withDeadline(store.put('mode', 'green'), timeoutMs, 'a write while cut'),
          'BrokerUnavailableError',
        )
        await link.heal()
        await waitFor(async () => (await store.get('mode').catch(() => undefined))?.stale === false, {
          timeoutMs,
          description: 'a fresh read',
        })
        await retryUnavailable(() => store.put('mode', 'green'), timeoutMs)
        expect((await store.get('mode'))?.value).toBe('green')
      })
    }

    const { stop, start } = options
    if (stop && start) {
      it('serves the last known good value while the server is stopped; writes fail fast; recovers', async () => {
        fresh()
        const store = await open()
        await store.put('mode', 'blue')
        expect(await store.get('mode')).toMatchObject({ value: 'blue', stale: false })
        await store.list('')
        await stop()
        try {
          expect(await store.get('mode')).toMatchObject({ value: 'blue', stale: true })
          expect(await store.list('')).toMatchObject([{ key: 'mode', value: 'blue', stale: true }])
          await expectSwitchyardError(
            withDeadline(store.put('mode', 'green'), timeoutMs, 'a write while stopped'),
            'BrokerUnavailableError',
          )
          await expectSwitchyardError(store.get('never-read'), 'BrokerUnavailableError')
          const newcomer = await open()
          await expectSwitchyardError(newcomer.list(''), 'BrokerUnavailableError')
        } finally {
          await start()
        }
        await waitFor(async () => (await store.get('mode').catch(() => undefined))?.stale === false, {
          timeoutMs,
          description: 'a fresh read',
        })
        await retryUnavailable(() => store.put('mode', 'green'), timeoutMs)
        expect((await store.get('mode'))?.value).toBe('green')
      })
    }
  })
}

/** Runs `operation` until it stops failing with `BrokerUnavailableError` (bounded by `timeoutMs`). */
async function retryUnavailable<T>(operation: () => Promise<T>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      return await operation()
    } catch (error) {
      if (!isSwitchyardError(error, 'BrokerUnavailableError') || Date.now() > deadline) throw error
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
}
