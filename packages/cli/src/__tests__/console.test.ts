/**
 * The console's HTTP layer on the memory transport and a memory config store (pure logic; the
 * browser tests against real brokers are in console.integration.test.ts): the Host, token and
 * origin checks, secrets never shown, config edits and the lag chart.
 */
import { randomBytes } from 'node:crypto'
import { MemoryConfigStore } from '@switchyard/config'
import { createMemoryTransport } from '@switchyard/memory'
import { afterEach, describe, expect, it } from 'vitest'
import { inspectPlan } from '../console/console-command.js'
import { chartPoints, LagHistory, LagSampler } from '../console/lag-history.js'
import { consoleApp } from '../console/server.js'
import { CliError } from '../exit-codes.js'

const token = 'test-token-123'
const origin = 'http://127.0.0.1:8686'
const closers: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const close of closers.splice(0)) await close()
})

function setup() {
  const transport = createMemoryTransport()
  const store = new MemoryConfigStore({ secrets: { current: { id: 'k1', key: randomBytes(32) } } })
  closers.push(
    () => transport.close(),
    () => store.close(),
  )
  const app = consoleApp({
    transport,
    store,
    token,
    port: () => 8686,
    lag: new LagSampler(),
    dlq: () => Promise.reject(new Error('no DLQ in this test')),
  })
  const request = (path: string, init: RequestInit = {}) =>
    app.request(`${origin}${path}`, { ...init, headers: { host: '127.0.0.1:8686', ...init.headers } })
  const post = (path: string, body: Record<string, string>, headers: Record<string, string> = {}) =>
    request(path, {
      method: 'POST',
      body: new URLSearchParams(body).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin, ...headers },
    })
  return { transport, store, request, post }
}

describe('console security', () => {
  it('answers only on 127.0.0.1 / localhost (no DNS rebinding)', async () => {
    const { request } = setup()
    const res = await request('/', { headers: { host: 'evil.example:8686' } })
    expect(res.status).toBe(421)
    expect((await request('/')).status).toBe(200)
  })

  it('refuses a change without the token, and with a wrong one', async () => {
    const { store, post } = setup()
    await store.put('/app', { rate: 1 }, { author: 't' })
    const res = await post('/config/put', { key: '/app', value: '{"rate":2}', revision: '0' })
    expect(res.status).toBe(401)
    expect((await store.get('/app'))?.value).toEqual({ rate: 1 })
    const wrong = await post('/login', { token: 'nope' })
    expect(wrong.status).toBe(401)
    expect(wrong.headers.get('set-cookie')).toBeNull()
  })

  it('refuses a form posted from another origin (CSRF), even with the cookie', async () => {
    const { store, post } = setup()
    await store.put('/app', { rate: 1 }, { author: 't' })
    const entry = await store.get('/app')
    const res = await post(
      '/config/put',
      { key: '/app', value: '{"rate":3}', revision: String(entry?.revision) },
      { origin: 'https://evil.example', cookie: `switchyard_console=${token}` },
    )
    expect(res.status).toBe(403)
    expect((await store.get('/app'))?.value).toEqual({ rate: 1 })
  })

  it('with the token: saves an edit (audited, compare-and-swap) and rolls back', async () => {
    const { store, post, request } = setup()
    const first = await store.put('/app', { rate: 1 }, { author: 't' })
    const login = await post('/login', { token })
    expect(login.status).toBe(303)
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] as string
    expect(login.headers.get('set-cookie')).toMatch(/HttpOnly/i)
    expect(login.headers.get('set-cookie')).toMatch(/SameSite=Strict/i)
    const saved = await post(
      '/config/put',
      { key: '/app', value: '{"rate":2}', revision: first.revision },
      { cookie },
    )
    expect(saved.status).toBe(303)
    expect(saved.headers.get('location')).toContain('ok=')
    expect((await store.get('/app'))?.value).toEqual({ rate: 2 })
    const [audit] = (await store.history('/app')).slice(-1)
    expect(audit?.audit?.author).toBe('switchyard console')
    // A stale revision is a conflict, not an overwrite.
    const stale = await post(
      '/config/put',
      { key: '/app', value: '{"rate":9}', revision: first.revision },
      { cookie },
    )
    expect(stale.headers.get('location')).toContain('error=')
    expect((await store.get('/app'))?.value).toEqual({ rate: 2 })
    await post('/config/rollback', { key: '/app', to: first.revision }, { cookie })
    expect((await store.get('/app'))?.value).toEqual({ rate: 1 })
    const page = await (await request(`/config/key?key=%2Fapp&from=${first.revision}`)).text()
    expect(page).toContain('rollback to')
    expect(page).toContain('(no changes)')
  })

  it('never shows a secret and refuses to edit a value holding one', async () => {
    const { store, post, request } = setup()
    await store.put('/db', { user: 'app', password: store.secret('hunter2-very-secret') }, { author: 't' })
    for (const path of ['/config', '/config/key?key=%2Fdb']) {
      const text = await (await request(path)).text()
      expect(text).not.toContain('hunter2')
      expect(text).toContain('[secret]')
    }
    const login = await post('/login', { token })
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] as string
    const entry = await store.get('/db')
    await post(
      '/config/put',
      { key: '/db', value: '{"user":"x"}', revision: String(entry?.revision) },
      { cookie },
    )
    expect(JSON.stringify((await store.get('/db'))?.value)).toContain('[secret]')
  })

  it('escapes what it shows (a key cannot inject markup)', async () => {
    const { store, request } = setup()
    await store.put('/x<script>alert(1)</script>', 1, { author: 't' })
    const text = await (await request('/config')).text()
    expect(text).not.toContain('<script>alert(1)')
    expect(text).toContain('&lt;script&gt;')
  })
})

describe('lag chart', () => {
  it('keeps a bounded series per group and scales it to the chart', () => {
    const history = new LagHistory(3)
    for (const [at, lag] of [
      [0, 5],
      [1000, 10],
      [2000, 0],
      [3000, 10],
    ] as const) {
      history.add({ topics: [], groups: [{ topic: 't', group: 'g', lag }], complete: true, at })
    }
    const samples = history.of('t', 'g')
    expect(samples.map((s) => s.lag)).toEqual([10, 0, 10])
    expect(chartPoints(samples)).toBe('0.0,1.0 120.0,47.0 240.0,1.0')
    expect(chartPoints([])).toBe('')
  })

  it('reads --group topic:group pairs, and refuses a malformed one', () => {
    expect(inspectPlan([])).toEqual([{}])
    expect(inspectPlan(['a.b:g1', 'a.b:g2', 'c:g'])).toEqual([
      { topic: 'a.b', groups: ['g1', 'g2'] },
      { topic: 'c', groups: ['g'] },
    ])
    expect(() => inspectPlan(['nogroup'])).toThrow(CliError)
  })
})
