/**
 * `switchyard console` (the built binary) driven by a real headless Chromium (Debian's `chromium`
 * through `playwright-core`), on Kafka and etcd, next to the talent-marketplace example's real
 * notifications service (its built `dist/notifications.js`, its own process):
 * - the DLQ page lists a dead letter; "Replay" sends it back and the example's consumer sends the
 *   notification (seen in the service's outcome file);
 * - editing the notification template in the configuration page reaches the running service;
 * - the lag page draws a chart for the service's group; the tail page shows a message live;
 * - screenshots of the main pages go to packages/cli/docs/ (linked from the README).
 * Chromium is installed with apt-get when missing, as the broker manager installs brokers.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { etcdConnection, kafkaConnection } from '@switchyard/brokers'
import { uniqueName, waitFor } from '@switchyard/contract'
import { Bus, type Transport } from '@switchyard/core'
import { TransportRegistry } from '@switchyard/di'
import { kafkaTransport } from '@switchyard/kafka'
import { Etcd3 } from 'etcd3'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launchChromium } from './browser.js'
import { cliEnv, runCli, spawnCli } from './run-cli.js'

const docs = fileURLToPath(new URL('../../docs/', import.meta.url))
const example = fileURLToPath(
  new URL('../../../../examples/talent-marketplace/dist/notifications.js', import.meta.url),
)

const prefix = `${uniqueName('console')}.`
const namespace = `/${uniqueName('console-ns')}/`
const topic = `${prefix}talent.registered`
const dlqTopic = `${topic}.dlq`
const failingGroup = `${prefix}failing`
const outcomes = join(tmpdir(), `${uniqueName('console-outcomes')}.jsonl`)
const token = uniqueName('token')
const env = cliEnv({
  TRANSPORT: 'kafka',
  SWITCHYARD_KAFKA_BROKERS: kafkaConnection.brokers.join(','),
  SWITCHYARD_ETCD_ENDPOINTS: etcdConnection.endpoints.join(','),
  SWITCHYARD_ETCD_NAMESPACE: namespace,
})

interface Outcome {
  readonly type: string
  readonly registrationId?: string
  readonly template?: string
  readonly text?: string
}
const outcomeLines = (): Outcome[] =>
  existsSync(outcomes)
    ? readFileSync(outcomes, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Outcome)
    : []

const registration = (id: string, name: string) => ({
  registrationId: id,
  talentId: `talent-${id}`,
  version: 1,
  name,
  email: `${id}@example.test`,
  category: 'design',
  premium: false,
})

let browser: Browser
let page: Page
let consoleUrl = ''
const children: { kill(): void; exited: Promise<unknown> }[] = []
let transport: Transport
let bus: Bus
const deadId = uniqueName('reg-dead')

beforeAll(async () => {
  mkdirSync(docs, { recursive: true })
  transport = await new TransportRegistry([kafkaTransport]).create({
    kind: 'kafka',
    brokers: kafkaConnection.brokers,
  })
  bus = new Bus(transport)
  // The template the service starts with.
  const put = await runCli(['config', 'put', 'notification-settings', '{"template":"Hello {name}"}'], env)
  expect(put.code).toBe(0)

  // A real dead letter: a consumer gives up on a registration (its mail server is down for good)
  // before the notifications service exists, so only the replayed copy can reach that service.
  await transport.provision(topic, { groups: [failingGroup] })
  const failing = bus.handle(topic, { group: failingGroup, retry: false }, async () => {
    throw new Error('mail relay refused the connection')
  })
  await bus.publish(topic, registration(deadId, 'Dora Dead'), { id: deadId, key: `talent-${deadId}` })
  await failing.ready
  await waitFor(
    async () => {
      const listed = await runCli(['--json', 'dlq', 'list', topic, '--id', deadId, '--wait', '2000'], env)
      return (JSON.parse(listed.stdout) as { matched: number }).matched === 1
    },
    { timeoutMs: 60_000, intervalMs: 500, description: `dead letter ${deadId}` },
  )
  await failing.stop()

  // The example's notifications service, its own process.
  const service = spawn(process.execPath, [example], {
    env: { ...env, MARKETPLACE_PREFIX: prefix, OUTCOMES_FILE: outcomes },
    stdio: 'ignore',
  })
  children.push({ kill: () => service.kill('SIGTERM'), exited: new Promise((r) => service.once('exit', r)) })
  await waitFor(() => outcomeLines().some((o) => o.type === 'ready'), {
    timeoutMs: 60_000,
    description: 'the notifications service to start',
  })

  const consoleProcess = spawnCli(
    ['--json', 'console', '--port', '0', '--token', token, '--sample', '1000'],
    env,
  )
  children.push({ kill: () => consoleProcess.child.kill('SIGINT'), exited: consoleProcess.exited })
  await consoleProcess.waitForOutput('"url"', 'stdout', 60_000)
  consoleUrl = (JSON.parse(consoleProcess.stdout().split('\n')[0] as string) as { url: string }).url

  browser = await launchChromium()
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
}, 240_000)

afterAll(async () => {
  await browser?.close()
  for (const child of children.reverse()) {
    child.kill()
    await child.exited
  }
  await bus?.close().catch(() => undefined)
  if (transport === undefined) return
  await transport
    .deprovision(topic, { groups: [failingGroup, `${prefix}notifications`] })
    .catch(() => undefined)
  await transport.deprovision(dlqTopic, { groups: ['dlq'] }).catch(() => undefined)
  await transport.deprovision(topic).catch(() => undefined)
  await transport.deprovision(dlqTopic).catch(() => undefined)
  await transport.close()
  const etcd = new Etcd3({ hosts: etcdConnection.endpoints })
  await etcd.delete().prefix(namespace)
  etcd.close()
  rmSync(outcomes, { force: true })
}, 120_000)

describe('switchyard console in a browser (Kafka, etcd, the example service)', () => {
  it('shows the transport status, and takes the token', async () => {
    await page.goto(`${consoleUrl}login?token=${token}`)
    await expect.poll(() => page.getByTestId('status').textContent(), { timeout: 20_000 }).toContain('up')
    expect(await page.content()).toContain('Token accepted')
    await page.screenshot({ path: join(docs, 'console-status.png') })
  })

  it('replays one dead letter from the DLQ page and the example consumer handles it', async () => {
    await page.goto(`${consoleUrl}dlq?topic=${encodeURIComponent(topic)}`, { timeout: 60_000 })
    const row = page.getByTestId('dead-letters').locator('tr', { hasText: deadId })
    await expect.poll(() => row.count(), { timeout: 5_000 }).toBe(1)
    expect(await row.textContent()).toContain('mail relay refused the connection')
    await page.screenshot({ path: join(docs, 'console-dlq.png') })
    await row.getByRole('button', { name: 'Replay' }).click()
    await page.waitForURL(/ok=/, { timeout: 60_000 })
    expect(await page.getByRole('status').textContent()).toContain(`Replayed ${deadId}`)
    await waitFor(
      () => outcomeLines().some((o) => o.type === 'notification-sent' && o.registrationId === deadId),
      { timeoutMs: 60_000, description: `the notifications service to send ${deadId}` },
    )
    const sent = outcomeLines().find((o) => o.type === 'notification-sent' && o.registrationId === deadId)
    expect(sent?.text).toBe('Hello Dora Dead')
  }, 180_000)

  it('edits the notification template and the running service picks it up', async () => {
    await page.goto(`${consoleUrl}config/key?key=notification-settings`)
    await page.getByTestId('editor').fill('{"template":"Welcome aboard, {name}!"}')
    await page.getByLabel('Comment').fill('friendlier greeting')
    await page.getByRole('button', { name: 'Save' }).click()
    await page.waitForURL(/ok=/)
    expect(await page.getByTestId('value').textContent()).toContain('Welcome aboard')
    await waitFor(
      () =>
        outcomeLines().some((o) => o.type === 'template-changed' && o.template === 'Welcome aboard, {name}!'),
      { timeoutMs: 30_000, description: 'the service to report the new template' },
    )
    const liveId = uniqueName('reg-live')
    await bus.publish(topic, registration(liveId, 'Lena Live'), { id: liveId, key: `talent-${liveId}` })
    await waitFor(() => outcomeLines().some((o) => o.registrationId === liveId), { timeoutMs: 60_000 })
    expect(outcomeLines().find((o) => o.registrationId === liveId)?.text).toBe('Welcome aboard, Lena Live!')
    // History and diff of the change.
    const history = page.getByTestId('history')
    expect(await history.textContent()).toContain('friendlier greeting')
    await history.locator('input[type=radio]').nth(1).check()
    await page.getByRole('button', { name: 'Diff with the current value' }).click()
    expect(await page.getByTestId('diff').textContent()).toContain(
      '"Hello {name}" → "Welcome aboard, {name}!"',
    )
    await page.screenshot({ path: join(docs, 'console-config.png'), fullPage: true })
  }, 120_000)

  it('draws the lag chart of the service group', async () => {
    await page.goto(`${consoleUrl}lag`)
    const row = page.getByTestId('lag-table').locator('tr', { hasText: `${prefix}notifications` })
    // Two samples make a line: wait for the live update to bring the second.
    await expect
      .poll(async () => ((await row.locator('polyline').getAttribute('points')) ?? '').split(' ').length, {
        timeout: 30_000,
      })
      .toBeGreaterThanOrEqual(2)
    // The live update replaces the table's rows: a box read while a row is swapped is null (seen
    // once on Node 24 in CI), so the width is read until a row is in place.
    await expect
      .poll(async () => (await row.locator('svg.chart').boundingBox())?.width ?? 0, { timeout: 10_000 })
      .toBeGreaterThan(100)
    await page.screenshot({ path: join(docs, 'console-lag.png') })
  }, 60_000)

  it('tails a topic live', async () => {
    await page.goto(`${consoleUrl}tail?topic=${encodeURIComponent(topic)}`)
    const tailId = uniqueName('reg-tail')
    // The page marks the list once its ephemeral subscription is attached.
    await page.locator('[data-testid=tail][data-ready=true]').waitFor({ state: 'attached', timeout: 30_000 })
    await bus.publish(topic, registration(tailId, 'Tom Tail'), { id: tailId, key: `talent-${tailId}` })
    await page.getByTestId('tail').locator('tr', { hasText: tailId }).waitFor({ timeout: 30_000 })
    expect(await page.getByTestId('tail').textContent()).toContain('Tom Tail')
    await page.screenshot({ path: join(docs, 'console-tail.png') })
  }, 60_000)
})
