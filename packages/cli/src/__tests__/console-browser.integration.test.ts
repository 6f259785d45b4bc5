/**
 * The console's pages in a real headless Chromium (Debian's `chromium` through `playwright-core`),
 * served in this process over the memory transport and a memory config store, so it needs no
 * broker: the browser's own `Origin` passes the CSRF check, a config edit reaches a watcher, the lag
 * chart grows with live updates, the tail shows a message live. The same pages on Kafka and etcd,
 * beside the example service, are in console.integration.test.ts.
 */
import type { AddressInfo } from 'node:net'
import { type ServerType, serve } from '@hono/node-server'
import { MemoryConfigStore } from '@switchyard/config'
import { waitFor } from '@switchyard/contract'
import { createMemoryTransport } from '@switchyard/memory'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LagSampler } from '../console/lag-history.js'
import { consoleApp } from '../console/server.js'
import { launchChromium } from './browser.js'

const token = 'browser-test-token'
const transport = createMemoryTransport()
const store = new MemoryConfigStore()
const lag = new LagSampler()
let server: ServerType
let url = ''
let browser: Browser
let page: Page

async function sample(): Promise<void> {
  const inspection = await (transport.inspect as NonNullable<typeof transport.inspect>)()
  lag.record(inspection)
}

beforeAll(async () => {
  let port = 0
  const app = consoleApp({
    transport,
    store,
    token,
    port: () => port,
    lag,
    dlq: () => Promise.resolve({ scanned: 0, matched: [], settled: 0 }),
  })
  server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s))
  })
  port = (server.address() as AddressInfo).port
  url = `http://127.0.0.1:${port}/`
  browser = await launchChromium()
  page = await browser.newPage()
}, 120_000)

afterAll(async () => {
  await browser?.close()
  await new Promise<void>((resolve) => {
    server?.close(() => resolve())
    ;(server as { closeAllConnections?: () => void } | undefined)?.closeAllConnections?.()
  })
  await store.close()
  await transport.close()
})

describe('the console in Chromium (memory transport, memory store)', () => {
  it('refuses an edit before the token, then saves one a watcher sees', async () => {
    const first = await store.put('/apps/mailer', { template: 'Hello {name}' }, { author: 'test' })
    const seen: unknown[] = []
    const watching = store.watch$('/apps/mailer').subscribe((e) => {
      if (e.type === 'put') seen.push(e.entry.value)
    })
    try {
      await page.goto(`${url}config/key?key=%2Fapps%2Fmailer`)
      await page.getByTestId('editor').fill('{"template":"Hi {name}"}')
      await page.getByRole('button', { name: 'Save' }).click()
      expect(await page.getByRole('alert').textContent()).toContain('needs the console token')
      expect((await store.get('/apps/mailer'))?.revision).toBe(first.revision)

      await page.goto(`${url}login`)
      await page.getByLabel('Console token').fill(token)
      await page.getByRole('button', { name: 'Use token' }).click()
      expect(await page.content()).toContain('Token accepted')
      await page.goto(`${url}config/key?key=%2Fapps%2Fmailer`)
      await page.getByTestId('editor').fill('{"template":"Hi {name}"}')
      await page.getByLabel('Comment').fill('shorter')
      await page.getByRole('button', { name: 'Save' }).click()
      expect(await page.getByRole('status').textContent()).toContain('Saved at revision')
      await waitFor(() => seen.length === 1, {
        timeoutMs: 10_000,
        description: 'the watcher to see the edit',
      })
      expect(seen[0]).toEqual({ template: 'Hi {name}' })

      await page.getByRole('button', { name: 'Roll back to this' }).click()
      expect(await page.getByRole('status').textContent()).toContain('Rolled back')
      expect((await store.get('/apps/mailer'))?.value).toEqual({ template: 'Hello {name}' })
    } finally {
      watching.unsubscribe()
    }
  }, 60_000)

  it('draws the lag chart and updates it live', async () => {
    await transport.provision('orders', { groups: ['billing'] })
    await sample()
    await page.goto(`${url}lag`)
    const row = page.getByTestId('lag-table').locator('tr', { hasText: 'billing' })
    expect(await row.locator('td').nth(2).textContent()).toBe('0')
    await transport.publish(
      [1, 2, 3].map((n) => ({
        topic: 'orders',
        id: `o-${n}`,
        timestamp: Date.now(),
        payload: new Uint8Array([n]),
        headers: {},
      })),
    )
    await sample()
    // The live update (SSE) brings the new lag and a second point into the open page.
    await waitFor(async () => (await row.locator('td').nth(2).textContent()) === '3', { timeoutMs: 10_000 })
    const points = (await row.locator('polyline').getAttribute('points')) ?? ''
    expect(points.split(' ')).toHaveLength(2)
    expect((await row.locator('svg.chart').boundingBox())?.width).toBeGreaterThan(100)
  }, 60_000)

  it('tails a topic live', async () => {
    await page.goto(`${url}tail?topic=signups`)
    await page.locator('[data-testid=tail][data-ready=true]').waitFor({ state: 'attached', timeout: 10_000 })
    await transport.publish([
      {
        topic: 'signups',
        id: 'sig-1',
        timestamp: Date.now(),
        key: 'k1',
        payload: new TextEncoder().encode('{"name":"Ada"}'),
        headers: { 'content-type': 'application/json' },
      },
    ])
    await page.getByTestId('tail').locator('tr', { hasText: 'sig-1' }).waitFor({ timeout: 10_000 })
    expect(await page.getByTestId('tail').textContent()).toContain('Ada')
  }, 60_000)
})
