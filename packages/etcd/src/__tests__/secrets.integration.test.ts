/**
 * No etcd password and no secret stored in etcd shows anywhere a user can see, against the
 * auth-enabled etcd of the broker manager, logged in as a user made for this run whose password
 * exists only in this run (and removed after it, with its keys):
 * - with the right password: writes (a transport document holding a broker password as a secret),
 *   reads, `list`, `history`, rollback, the store's event stream (`watch$` snapshots and changes),
 *   `errors$` (a secret read without its key), a section's `value$`, a lock and an election;
 * - a wrong password: every operation an `AuthenticationError` within 5 s;
 * - a closed port: every operation a `BrokerUnavailableError` within 5 s.
 * Everything (values, events, errors with their causes, and whatever the process writes to stdout,
 * stderr and the console meanwhile) goes into a `SecretScan`, which must not contain the etcd
 * password, the wrong password, the broker password or the secrets key.
 *
 * `ConfigStore` has no `health()`: its only status signals are the operations' errors and
 * `errors$`, which are scanned here.
 *
 * Run under the brokers lock: flock /tmp/switchyard-brokers.lock npx vitest run --project integration packages/etcd/src/__tests__/secrets.integration.test.ts
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { createServer } from 'node:net'
import { etcdAuthConnection, type TemporaryUser, temporaryEtcdUser, up } from '@switchyard/brokers'
import type { ConfigEvent, SecretKeyring } from '@switchyard/config'
import { SecretScan, uniqueName, waitFor } from '@switchyard/contract'
import { isSwitchyardError } from '@switchyard/core'
import { firstValueFrom } from 'rxjs'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { EtcdConfigStore, type EtcdConfigStoreOptions } from '../etcd-config-store.js'

const namespace = `/${uniqueName('secret-scan')}/`
const brokerPassword = `broker-${randomUUID()}`
const wrongPassword = `wrong-${randomUUID()}`
const keyring: SecretKeyring = { current: { id: 'scan-key', key: randomBytes(32) } }
let user: TemporaryUser

/** What the current test captured, its process output included (a new scan per test). */
let scan = new SecretScan()
let stopOutput: () => void = () => undefined

beforeAll(async () => {
  await up('etcd-auth')
  user = await temporaryEtcdUser(namespace)
}, 120_000)

afterAll(async () => {
  await user?.remove()
})

beforeEach(() => {
  scan = new SecretScan()
  stopOutput = scan.captureOutput()
})

afterEach(() => {
  stopOutput()
})

/** A port nothing listens on (taken from the OS, then released). */
const closedPort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

/** A store as this run's user, with the secrets key unless `withKey` is false. */
const open = (options: Partial<EtcdConfigStoreOptions> = {}, withKey = true): EtcdConfigStore =>
  new EtcdConfigStore({
    endpoints: etcdAuthConnection.endpoints,
    auth: { username: user.username, password: user.password },
    namespace,
    ...(withKey ? { secrets: keyring } : {}),
    dialTimeout: 1_000,
    operationTimeoutMs: 2_000,
    ...options,
  })

/** Asserts nothing captured so far holds a secret of this run (never printing one). */
const expectNoSecret = (): void => {
  expect(
    scan.leaks({
      'etcd password': user.password,
      'wrong etcd password': wrongPassword,
      'broker password': brokerPassword,
      'secrets key': Buffer.from(keyring.current.key).toString('base64'),
    }),
  ).toEqual([])
}

/** Runs `operation`, captures what it threw, and returns that error and how long it took. */
const failure = async (operation: () => Promise<unknown>): Promise<{ error: unknown; ms: number }> => {
  const began = Date.now()
  try {
    scan.capture(await operation())
    return { error: undefined, ms: Date.now() - began }
  } catch (error) {
    scan.capture(error)
    return { error, ms: Date.now() - began }
  }
}

describe('etcd config store: no password or secret shows', () => {
  it('in values, history, events, errors$, a section, a lock and an election (right password)', async () => {
    const store = open()
    const events: ConfigEvent[] = []
    const watch = store.watch$({ prefix: '' }).subscribe({
      next: (e) => {
        events.push(e)
        scan.capture(e)
      },
      error: scan.capture,
    })
    const errors = store.errors$.subscribe({ next: scan.capture, error: scan.capture })
    const sealed = open({}, false)
    try {
      await waitFor(() => events.length > 0, { timeoutMs: 10_000, description: 'the watch snapshot' })
      const document = {
        kind: 'redis',
        url: 'redis://127.0.0.1:6390',
        username: 'app',
        password: store.secret(brokerPassword),
      }
      const first = await store.put('transport', document, { comment: 'first' })
      await store.put('transport', { ...document, prefix: 'app:' }, { comment: 'second' })
      await store.put('limits', { max: 1 })
      await store.delete('limits')
      scan.capture(await store.rollback('transport', first.revision, { comment: 'back' }))
      await waitFor(() => events.filter((e) => e.type !== 'snapshot').length >= 5, {
        timeoutMs: 10_000,
        description: () => `five change events; got ${JSON.stringify(events.map((e) => e.type))}`,
      })

      const read = await store.get('transport')
      scan.capture(read)
      expect(JSON.stringify(read?.value)).toContain('[secret]')
      scan.capture(await store.list(''))
      scan.capture(await store.history('transport'))
      // Read without the key: the secret stays sealed; a section of it reports on errors$.
      scan.capture(await sealed.get('transport'))
      scan.capture(await sealed.list(''))
      const sectionErrors: unknown[] = []
      sealed.errors$.subscribe({ next: (e) => sectionErrors.push(e) })
      const section = sealed.section('transport', {
        '~standard': {
          version: 1,
          vendor: 'test',
          validate: (value: unknown) => ({ value: value as Record<string, unknown> }),
        },
      })
      scan.capture(await firstValueFrom(section.value$))
      const opened = store.section('transport', {
        '~standard': {
          version: 1,
          vendor: 'test',
          validate: (value: unknown) => ({ value: value as Record<string, unknown> }),
        },
      })
      scan.capture(await firstValueFrom(opened.value$))
      scan.capture(sectionErrors)

      const lock = await store.lock('scan-lock', { ttlSeconds: 5 })
      scan.capture(lock)
      await lock.release()
      const election = store.election('scan-election', { ttlSeconds: 5 })
      await election.campaign()
      scan.capture(await firstValueFrom(election.leader$))
      await election.resign()
    } finally {
      watch.unsubscribe()
      errors.unsubscribe()
      await sealed.close()
      await store.close()
    }
    expect(events.some((e) => e.type === 'put' && e.entry.key === 'transport')).toBe(true)
    expect(events.some((e) => e.type === 'delete' && e.key === 'limits')).toBe(true)
    expect(scan.count).toBeGreaterThan(10)
    expectNoSecret()
  })

  it('in the AuthenticationError of every operation with a wrong password (each within 5 s)', async () => {
    const store = open({ auth: { username: user.username, password: wrongPassword } })
    const watched: unknown[] = []
    const watch = store.watch$('transport').subscribe({
      next: (e) => watched.push(e),
      error: (e) => watched.push(e),
    })
    store.errors$.subscribe({ next: scan.capture })
    try {
      const operations: (() => Promise<unknown>)[] = [
        () => store.get('transport'),
        () => store.put('transport', { kind: 'memory' }),
        () => store.list(''),
        () => store.history('transport'),
        () => store.delete('transport'),
        () => store.lock('scan-lock', { ttlSeconds: 5 }),
      ]
      for (const operation of operations) {
        const { error, ms } = await failure(operation)
        expect(isSwitchyardError(error, 'AuthenticationError'), String(error)).toBe(true)
        expect((error as Error).message).toMatch(/refused the credentials|authentication/i)
        expect(ms).toBeLessThan(5_000)
      }
      await waitFor(() => watched.length > 0, { timeoutMs: 5_000, description: 'the watch to report' })
      scan.capture(watched)
    } finally {
      watch.unsubscribe()
      await store.close()
    }
    expect(scan.text).toContain('AuthenticationError')
    expectNoSecret()
  })

  it('in the BrokerUnavailableError of every operation on a closed port (each within 5 s)', async () => {
    const store = open({ endpoints: [`http://127.0.0.1:${await closedPort()}`] })
    const watched: unknown[] = []
    const watch = store.watch$('transport').subscribe({
      next: (e) => watched.push(e),
      error: (e) => watched.push(e),
    })
    try {
      for (const operation of [
        () => store.get('transport'),
        () => store.put('transport', { kind: 'memory', password: store.secret(brokerPassword) }),
        () => store.list(''),
        () => store.history('transport'),
      ]) {
        const { error, ms } = await failure(operation)
        expect(isSwitchyardError(error, 'BrokerUnavailableError'), String(error)).toBe(true)
        expect(ms).toBeLessThan(5_000)
      }
      scan.capture(watched)
    } finally {
      watch.unsubscribe()
      await store.close()
    }
    expect(scan.text).toContain('BrokerUnavailableError')
    expectNoSecret()
  })
})
