/**
 * The web console and the CLI never show a password: `switchyard console` (the built binary) runs on
 * the auth-enabled etcd, logged in as an etcd user made for this run, with its transport read from a
 * transport document in etcd — Redis as an ACL user made for this run, its password stored as a
 * secret (encrypted with a key made for this run). Every password exists only in this run.
 *
 * The test fetches every page (status, lag, tail, dead letters, configuration list, the document's
 * page with history and a diff, login, an unknown page), reads every event stream (status, lag,
 * configuration, tail) until it carries data, posts every form (login, an edit of the document that
 * is refused because it holds a secret, an edit of another key, a rollback of the document, a replay
 * of a dead letter that is not there), and runs the CLI's JSON and text commands on the same
 * document, plus its failures: a wrong etcd password, a document with a wrong Redis password, and a
 * closed etcd port. Every page, event, response and output (the console's own stdout/stderr too) goes
 * into a `SecretScan` that must not contain the etcd password, the Redis password, the wrong ones or
 * the secrets key.
 *
 * Run under the brokers lock, after building the CLI (npx turbo run build --filter=@switchyard/cli):
 * flock /tmp/switchyard-brokers.lock npx vitest run --project integration packages/cli/src/__tests__/console.secrets.integration.test.ts
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { createServer } from 'node:net'
import {
  etcdAuthConnection,
  redisConnection,
  type TemporaryUser,
  temporaryEtcdUser,
  temporaryRedisUser,
  up,
} from '@switchyard/brokers'
import { SecretScan, uniqueName, waitFor } from '@switchyard/contract'
import { EtcdConfigStore } from '@switchyard/etcd'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { type CliProcess, cliEnv, runCli, spawnCli } from './run-cli.js'

const namespace = `/${uniqueName('console-secrets')}/`
const keyPrefix = `${redisConnection.aclKeyPrefix}${uniqueName('scan')}:`
const topic = uniqueName('secrets.orders')
const secretsKey = randomBytes(32)
const secretsKeyId = 'scan-key'
const wrongEtcdPassword = `wrong-etcd-${randomUUID()}`
const wrongRedisPassword = `wrong-redis-${randomUUID()}`
const token = uniqueName('token')

let etcdUser: TemporaryUser
let redisUser: TemporaryUser
let store: EtcdConfigStore
let consoleProcess: CliProcess | undefined
let base = ''
/** The document's first revision (for the diff and the rollback). */
let firstRevision = ''

/** What the current test captured (a new scan per test, so a leak fails the test that saw it). */
let scan = new SecretScan()
beforeEach(() => {
  scan = new SecretScan()
})

/** The environment of the CLI and the console: etcd as this run's user, the document, the key. */
const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv =>
  cliEnv({
    SWITCHYARD_ETCD_ENDPOINTS: etcdAuthConnection.endpoints.join(','),
    SWITCHYARD_ETCD_NAMESPACE: namespace,
    SWITCHYARD_ETCD_USERNAME: etcdUser.username,
    SWITCHYARD_ETCD_PASSWORD: etcdUser.password,
    SWITCHYARD_SECRETS_KEY: secretsKey.toString('base64'),
    SWITCHYARD_SECRETS_KEY_ID: secretsKeyId,
    SWITCHYARD_TRANSPORT_KEY: 'transport',
    ...extra,
  })

/** A transport document for this run's Redis user with `password` stored as a secret. */
const document = (password: string, extra: Record<string, unknown> = {}) => ({
  kind: 'redis',
  url: redisConnection.url,
  username: redisUser.username,
  password: store.secret(password),
  prefix: keyPrefix,
  ...extra,
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

beforeAll(async () => {
  await up('etcd-auth')
  await up('redis')
  etcdUser = await temporaryEtcdUser(namespace)
  redisUser = await temporaryRedisUser(keyPrefix)
  store = new EtcdConfigStore({
    endpoints: etcdAuthConnection.endpoints,
    auth: { username: etcdUser.username, password: etcdUser.password },
    namespace,
    secrets: { current: { id: secretsKeyId, key: new Uint8Array(secretsKey) } },
  })
  firstRevision = (await store.put('transport', document(redisUser.password), { comment: 'first' })).revision
  await store.put('transport', document(redisUser.password, { pollMs: 500 }), { comment: 'faster polls' })
  await store.put('transport-wrong', document(wrongRedisPassword))
  await store.put('settings', { rate: 1 })

  consoleProcess = spawnCli(['--json', 'console', '--port', '0', '--token', token, '--sample', '500'], env())
  await consoleProcess.waitForOutput('"url"', 'stdout', 60_000)
  base = (JSON.parse(consoleProcess.stdout().split('\n')[0] as string) as { url: string }).url
}, 180_000)

afterAll(async () => {
  if (consoleProcess !== undefined) {
    consoleProcess.child.kill('SIGINT')
    await consoleProcess.exited
  }
  await store?.close()
  await redisUser?.remove()
  await etcdUser?.remove()
}, 60_000)

/** Asserts nothing this test captured holds a password or key of this run (never printing one). */
const expectNoSecret = (): void => {
  expect(scan.count).toBeGreaterThan(0)
  expect(
    scan.leaks({
      'etcd password': etcdUser.password,
      'redis password': redisUser.password,
      'wrong etcd password': wrongEtcdPassword,
      'wrong redis password': wrongRedisPassword,
      'secrets key': secretsKey.toString('base64'),
    }),
  ).toEqual([])
}

/** GETs a console page, captures it, and returns status and body. */
const page = async (path: string, cookie?: string): Promise<{ status: number; body: string }> => {
  const response = await fetch(new URL(path, base), {
    redirect: 'manual',
    ...(cookie === undefined ? {} : { headers: { cookie } }),
  })
  const body = await response.text()
  scan.captureText(`GET ${path} ${response.status} ${JSON.stringify([...response.headers])}\n${body}`)
  return { status: response.status, body }
}

/** POSTs a console form with the console's origin (and the token cookie); captures the answer. */
const post = async (
  path: string,
  form: Record<string, string>,
  cookie?: string,
): Promise<{ status: number; location: string | null; setCookie: string | null }> => {
  const response = await fetch(new URL(path, base), {
    method: 'POST',
    redirect: 'manual',
    body: new URLSearchParams(form).toString(),
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      origin: new URL(base).origin,
      ...(cookie === undefined ? {} : { cookie }),
    },
  })
  const body = await response.text()
  scan.captureText(`POST ${path} ${response.status} ${JSON.stringify([...response.headers])}\n${body}`)
  return {
    status: response.status,
    location: response.headers.get('location'),
    setCookie: response.headers.get('set-cookie'),
  }
}

/** A console event stream (Server-Sent Events) being read: what arrived so far, and `close()`. */
interface EventStream {
  text(): string
  /** Stops reading and captures what was read. */
  close(): Promise<void>
}

/** Opens a console event stream and keeps reading it in the background. */
const events = async (path: string): Promise<EventStream> => {
  const abort = new AbortController()
  const response = await fetch(new URL(path, base), { signal: abort.signal })
  expect(response.status).toBe(200)
  let text = ''
  const reader = (response.body as ReadableStream<Uint8Array>).getReader()
  const decoder = new TextDecoder()
  const reading = (async () => {
    for (;;) {
      const { value, done } = await reader.read()
      if (done) return
      text += decoder.decode(value, { stream: true })
    }
  })().catch(() => undefined)
  return {
    text: () => text,
    async close() {
      abort.abort()
      await reading
      scan.captureText(`SSE ${path}\n${text}`)
    },
  }
}

/** Waits until `stream` carries `wanted`, with the stream's text in the timeout message. */
const arrived = (stream: EventStream, wanted: string, timeoutMs = 20_000): Promise<void> =>
  waitFor(() => stream.text().includes(wanted), {
    timeoutMs,
    description: () => `${JSON.stringify(wanted)} on the stream; got:\n${stream.text()}`,
  })

/** Runs the CLI, captures its output, and returns it. */
const cli = async (args: readonly string[], environment: NodeJS.ProcessEnv = env()) => {
  const result = await runCli(args, environment)
  scan.captureText(`$ switchyard ${args.join(' ')} (exit ${result.code})\n${result.stdout}\n${result.stderr}`)
  return result
}

describe('switchyard console and CLI on a transport document holding a password', () => {
  it('shows no password on any page', async () => {
    const status = await page('/')
    expect(status.status).toBe(200)
    expect(status.body).toContain('redis')
    expect(status.body).toMatch(/data-testid="status">up/)
    expect((await page('/lag')).status).toBe(200)
    expect((await page('/tail')).status).toBe(200)
    expect((await page(`/tail?topic=${encodeURIComponent(topic)}`)).body).toContain(topic)
    expect((await page('/dlq')).status).toBe(200)
    expect((await page(`/dlq?topic=${encodeURIComponent(topic)}`)).body).toContain('dead letters of')
    const list = await page('/config')
    expect(list.body).toContain('transport')
    expect(list.body).toContain('[secret]')
    expect((await page('/config?prefix=trans')).body).toContain('transport-wrong')
    const key = await page('/config/key?key=transport')
    expect(key.body).toContain('holds secrets')
    expect(key.body).toContain('faster polls')
    const diff = await page(`/config/key?key=transport&from=${firstRevision}`)
    expect(diff.body).toContain('pollMs')
    expect((await page('/config/key?key=transport-wrong')).status).toBe(200)
    expect((await page('/config/key?key=settings')).status).toBe(200)
    expect((await page('/login')).status).toBe(200)
    expect((await page('/no-such-page')).status).toBe(404)
    expectNoSecret()
  })

  it('shows no password in any event stream', async () => {
    const status = await events('/events/status')
    const lag = await events('/events/lag')
    const config = await events('/events/config?key=settings')
    const tail = await events(`/events/tail?topic=${encodeURIComponent(topic)}`)
    try {
      await arrived(status, 'event: html')
      await arrived(lag, 'event: html')
      // The config stream reports changes after its watch's snapshot: write until one is reported.
      let rate = 1
      await waitFor(
        async () => {
          await store.put('settings', { rate: ++rate })
          return config.text().includes('settings changed')
        },
        { timeoutMs: 20_000, intervalMs: 250, description: () => `a change event; got:\n${config.text()}` },
      )
      // The tail shows what is published once its subscription is attached (`ready`).
      await arrived(tail, 'event: ready')
      const published = await cli(['publish', topic, '{"note":"tail-payload"}'])
      expect(published.code).toBe(0)
      await arrived(tail, 'tail-payload')
    } finally {
      for (const stream of [status, lag, config, tail]) await stream.close()
    }
    expectNoSecret()
  }, 60_000)

  it('shows no password in the answers to any form', async () => {
    const login = await post('/login', { token })
    expect(login.status).toBe(303)
    const cookie = (login.setCookie ?? '').split(';')[0] as string
    expect(cookie).toContain('switchyard_console=')
    const refused = await post('/config/put', { key: 'transport', value: '{"kind":"redis"}' }, cookie)
    expect(refused.location).toContain('error=')
    expect((await page(refused.location as string, cookie)).body).toContain('holds secrets')
    const current = await store.get('settings')
    const saved = await post(
      '/config/put',
      { key: 'settings', value: '{"rate":3}', revision: String(current?.revision), comment: 'scan' },
      cookie,
    )
    expect(saved.location).toContain('ok=')
    await page(saved.location as string, cookie)
    const rolledBack = await post('/config/rollback', { key: 'transport', to: firstRevision }, cookie)
    expect(rolledBack.location).toContain('ok=')
    expect((await page(rolledBack.location as string, cookie)).body).toContain('Rolled back')
    const replay = await post('/dlq/replay', { topic, id: 'no-such-dead-letter' }, cookie)
    expect(replay.location).toContain('error=')
    await page(replay.location as string, cookie)
    expectNoSecret()
  }, 60_000)

  it('shows no password in the output of the CLI, on success and on failure', async () => {
    const got = await cli(['--json', 'config', 'get', 'transport'])
    expect(got.code).toBe(0)
    expect(JSON.parse(got.stdout)).toMatchObject({ value: { kind: 'redis', password: '[secret]' } })
    expect((await cli(['config', 'get', 'transport'])).code).toBe(0)
    expect((await cli(['--json', 'config', 'get', 'trans', '--prefix'])).code).toBe(0)
    expect((await cli(['--json', 'config', 'history', 'transport'])).code).toBe(0)
    expect((await cli(['config', 'history', 'transport'])).code).toBe(0)
    expect((await cli(['--json', 'config', 'diff', 'transport', firstRevision])).code).toBe(0)
    const health = await cli(['--json', 'health'])
    expect(health.code).toBe(0)
    expect(JSON.parse(health.stdout)).toMatchObject({ kind: 'redis', status: 'up' })
    expect((await cli(['health'])).code).toBe(0)

    const wrongEtcd = await cli(
      ['--json', 'config', 'get', 'transport'],
      env({ SWITCHYARD_ETCD_PASSWORD: wrongEtcdPassword }),
    )
    expect(wrongEtcd.code).not.toBe(0)
    expect(wrongEtcd.stderr).toMatch(/AuthenticationError|refused the credentials/)
    const wrongRedis = await cli(['--json', 'health'], env({ SWITCHYARD_TRANSPORT_KEY: 'transport-wrong' }))
    expect(wrongRedis.code).not.toBe(0)
    expect(wrongRedis.stderr).toMatch(/AuthenticationError|refused the credentials/)
    const closed = await cli(
      ['--json', 'health'],
      env({ SWITCHYARD_ETCD_ENDPOINTS: `http://127.0.0.1:${await closedPort()}` }),
    )
    expect(closed.code).not.toBe(0)
    expectNoSecret()
  }, 120_000)

  it("shows no password in the console's own output", () => {
    scan.captureText(
      `console stdout\n${consoleProcess?.stdout()}\nconsole stderr\n${consoleProcess?.stderr()}`,
    )
    expect(consoleProcess?.stdout()).toContain('"url"')
    expectNoSecret()
  })
})
