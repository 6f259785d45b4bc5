/**
 * Redis and NATS through `@switchyard/di` with credentials over TLS with a client certificate,
 * against the test servers that require them: the TLS port of the test Redis with an ACL user
 * (limited to the keys `switchyard:*` and the commands the transport sends) and the `nats-auth`
 * server (TLS only; user/password and an nkey user). Each case is configured the way an operator
 * does it: `TRANSPORT=<kind>` plus the `SWITCHYARD_*` variables, the TLS files by path
 * (`…_TLS_CA_FILE`, `…_TLS_CERT_FILE`, `…_TLS_KEY_FILE`).
 *
 * - The right credentials carry messages to a group (Redis: an `ordered` group too, which needs the
 *   lease script) and report health: the documented minimum permissions are enough. The Redis user is
 *   made for this run (`temporaryRedisUser`: same permissions as `up redis`'s, a password that exists
 *   only in this run, deleted with its keys afterwards); so is the NATS password user
 *   (`temporaryNatsAuthUser`: added to the server's configuration, which it reloads, and taken out
 *   afterwards), and so is the nkey user (`temporaryNatsAuthNkeyUser`: its public key added the same
 *   way, its seed made in this run).
 * - Wrong credentials fail `connect()` with `AuthenticationError` within 5 s, saying what to check.
 * - The password (or nkey seed) shows nowhere: not in errors and their causes, `status$`,
 *   `events$`, `health()` or anything written to stdout/stderr meanwhile (the adapters log nothing
 *   themselves; a library that did would be caught here).
 *
 * Run under the brokers lock: flock /tmp/switchyard-brokers.lock npx vitest run --project integration packages/di
 */
import 'reflect-metadata'
import { randomBytes } from 'node:crypto'
import { inspect } from 'node:util'
import { createUser } from '@nats-io/nkeys'
import {
  ensurePki,
  natsAuthConnection,
  redisConnection,
  type TemporaryUser,
  temporaryNatsAuthNkeyUser,
  temporaryNatsAuthUser,
  temporaryRedisUser,
  testPkiFiles,
  up,
} from '@switchyard/brokers'
import { collect, createMessage, expectSwitchyardError, uniqueName } from '@switchyard/contract'
import type { Transport } from '@switchyard/core'
import { natsTransport } from '@switchyard/nats'
import { redisTransport } from '@switchyard/redis'
import { container } from 'tsyringe'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { configure, fromEnv, type SwitchyardApp } from '../index.js'

type Env = Record<string, string>

interface CredentialCase {
  readonly name: string
  /** The variables with the right credentials. */
  readonly env: () => Env
  /** The variable holding the secret, and a wrong value of it (unique, for the leak scan). */
  readonly secret: { readonly variable: string; readonly wrong: () => string }
  /** Subscription options the round trip also proves (Redis: `ordered` runs the lease script). */
  readonly ordered: boolean
}

const run = randomBytes(4).toString('hex')
const seed = () => new TextDecoder().decode(createUser().getSeed())
/** The keys this run's Redis user may touch (and the transport's prefix). */
const redisKeyPrefix = `${redisConnection.aclKeyPrefix}di-${run}:`
let redisUser: TemporaryUser | undefined
/** A NATS user whose password exists only in this run. */
let natsUser: TemporaryUser | undefined
/** A NATS nkey user whose seed exists only in this run (`password` is the seed). */
let natsNkeyUser: TemporaryUser | undefined

const cases: CredentialCase[] = [
  {
    name: 'redis ACL user',
    env: () => ({
      TRANSPORT: 'redis',
      SWITCHYARD_REDIS_URL: redisConnection.tlsUrl,
      ...tlsFiles('SWITCHYARD_REDIS'),
      SWITCHYARD_REDIS_USERNAME: (redisUser as TemporaryUser).username,
      SWITCHYARD_REDIS_PASSWORD: (redisUser as TemporaryUser).password,
      SWITCHYARD_REDIS_PREFIX: redisKeyPrefix,
    }),
    secret: {
      variable: 'SWITCHYARD_REDIS_PASSWORD',
      wrong: () => `wrong-redis-${randomBytes(6).toString('hex')}`,
    },
    ordered: true,
  },
  {
    name: 'nats user and password',
    env: () => ({
      TRANSPORT: 'nats',
      SWITCHYARD_NATS_SERVERS: natsAuthConnection.servers.join(','),
      ...tlsFiles('SWITCHYARD_NATS'),
      SWITCHYARD_NATS_USER: (natsUser as TemporaryUser).username,
      SWITCHYARD_NATS_PASSWORD: (natsUser as TemporaryUser).password,
    }),
    secret: {
      variable: 'SWITCHYARD_NATS_PASSWORD',
      wrong: () => `wrong-nats-${randomBytes(6).toString('hex')}`,
    },
    ordered: false,
  },
  {
    name: 'nats nkey',
    env: () => ({
      TRANSPORT: 'nats',
      SWITCHYARD_NATS_SERVERS: natsAuthConnection.servers.join(','),
      ...tlsFiles('SWITCHYARD_NATS'),
      SWITCHYARD_NATS_NKEY_SEED: (natsNkeyUser as TemporaryUser).password,
    }),
    // A valid seed of another user: the server does not know its public key.
    secret: { variable: 'SWITCHYARD_NATS_NKEY_SEED', wrong: seed },
    ordered: false,
  },
]

/** The variables naming the test PKI's CA, client certificate and key files. */
const tlsFiles = (prefix: string): Env => {
  const pki = testPkiFiles()
  return {
    [`${prefix}_TLS_CA_FILE`]: pki.caCert,
    [`${prefix}_TLS_CERT_FILE`]: pki.clientCert,
    [`${prefix}_TLS_KEY_FILE`]: pki.clientKey,
  }
}

const apps: SwitchyardApp[] = []
const topics: { transport: Transport; topic: string }[] = []

beforeAll(async () => {
  await ensurePki()
  await up('redis')
  await up('nats-auth')
  redisUser = await temporaryRedisUser(redisKeyPrefix)
  natsUser = await temporaryNatsAuthUser()
  natsNkeyUser = await temporaryNatsAuthNkeyUser()
}, 180_000)

afterAll(async () => {
  await redisUser?.remove()
  await natsUser?.remove()
  await natsNkeyUser?.remove()
})

afterEach(async () => {
  for (const { transport, topic } of topics.splice(0)) await transport.deprovision(topic)
  await Promise.all(apps.splice(0).map((app) => app.stop({ timeoutMs: 2_000 })))
})

/** What the process writes to stdout and stderr (and console) while a test runs. */
const written: string[] = []
beforeAll(() => {
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream) as (...args: unknown[]) => boolean
    vi.spyOn(stream, 'write').mockImplementation(((chunk: unknown, ...rest: unknown[]) => {
      written.push(String(chunk))
      return write(chunk, ...rest)
    }) as typeof stream.write)
  }
  for (const level of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    const original = console[level].bind(console)
    vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
      written.push(inspect(args))
      original(...args)
    })
  }
})

afterAll(() => {
  vi.restoreAllMocks()
})

/** Configures an app from `env` the way a service does (`fromEnv`), and records what it reports. */
async function wire(env: Env) {
  const app = await configure(container.createChildContainer(), {
    transport: fromEnv({ env }),
    transports: [redisTransport, natsTransport],
  })
  apps.push(app)
  const seen: unknown[] = []
  app.transport.status$.subscribe((s) => seen.push(s))
  app.bus.events$.subscribe((e) => seen.push(e))
  return { app, transport: app.transport, seen }
}

/** Everything a user could see, rendered as text: values with their nested causes. */
const rendered = (...values: unknown[]): string =>
  values.map((v) => inspect(v, { depth: 8, showHidden: false, getters: true })).join('\n')

describe.each(cases)('$name through configure()', ({ env, secret, ordered }) => {
  it('carries messages to a group with the right credentials, and shows the secret nowhere', async () => {
    const { transport, seen } = await wire(env())
    await transport.connect()
    const topic = uniqueName('di.credentials')
    topics.push({ transport, topic })
    const c = collect(transport, topic, { group: 'g', ordered, timeoutMs: 15_000 })
    await c.ready
    const messages = Array.from({ length: 20 }, (_, i) => createMessage(topic, { key: `k${i % 3}` }))
    await transport.publish(messages)
    await c.waitForIds(messages.length)
    expect([...c.ids].sort()).toEqual(messages.map((m) => m.id).sort())
    expect(c.settleErrors).toEqual([])
    const health = await transport.health()
    expect(health.status).toBe('up')
    c.stop()
    const value = env()[secret.variable] as string
    // A boolean, so a failure does not print the secret.
    expect(rendered(health, seen, transport, written).includes(value), 'the secret shows').toBe(false)
  }, 60_000)

  it('fails connect() with AuthenticationError within 5 s on a wrong secret, saying what to check', async () => {
    const wrong = secret.wrong()
    const { transport, seen } = await wire({ ...env(), [secret.variable]: wrong })
    const began = Date.now()
    const error = await expectSwitchyardError(transport.connect(), 'AuthenticationError')
    expect(Date.now() - began).toBeLessThan(5_000)
    expect(error.message).toContain('refused the credentials')
    expect(error.message).toMatch(/check user, password/i)
    const health = await transport.health()
    expect(health.status).not.toBe('up')
    // status$ carries the refusal (health() only says the transport is not connected).
    const statuses = seen as { error?: { name?: string } }[]
    expect(statuses.some((s) => s.error?.name === 'AuthenticationError')).toBe(true)
    expect(rendered(error, health, seen, transport, written).includes(wrong), 'the secret shows').toBe(false)
  }, 30_000)
})

it('keeps the Redis ACL user to its keys: a topic outside them is refused with a typed error', async () => {
  const { transport } = await wire({ ...cases[0]?.env(), SWITCHYARD_REDIS_PREFIX: `outside-${run}:` })
  await transport.connect()
  const error = await expectSwitchyardError(
    transport.publish([createMessage(uniqueName('di.outside'))]),
    'PublishError',
  )
  expect(error.message).toContain('NOPERM')
}, 30_000)
