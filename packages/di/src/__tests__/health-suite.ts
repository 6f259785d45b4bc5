/**
 * The health-server suite every transport runs (memory in the unit tests, Kafka and RabbitMQ in
 * the integration tests): a `@switchyard/di` app with `BusTelemetry` serves `/healthz`, `/readyz`
 * and `/metrics` over real HTTP; the scraped text passes `promtool check metrics` (Debian's
 * prometheus package; `npm test` installs it) and carries the same metric names on every transport.
 */
import 'reflect-metadata'
import { execFileSync, spawnSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { MeterProvider, type MetricReader } from '@opentelemetry/sdk-metrics'
import type { Message, Transport } from '@switchyard/core'
import { BusTelemetry } from '@switchyard/otel'
import { PrometheusMetrics } from '@switchyard/otel/prometheus'
import { container } from 'tsyringe'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { configure, Handle, type HealthServer, type Readiness, serveHealth } from '../index.js'
import type { SwitchyardApp } from '../switchyard-app.js'

/** Metric families every transport must expose (Prometheus names of the OpenTelemetry ones). */
export const expectedFamilies = [
  'messaging_client_consumed_messages_total',
  'messaging_client_operation_duration',
  'messaging_client_sent_messages_total',
  'messaging_process_duration',
  'switchyard_consumer_in_flight',
  'switchyard_consumer_lag',
  'switchyard_handler_in_flight',
  'switchyard_publish_buffered',
  'switchyard_transport_up',
]

export interface HealthSuiteOptions {
  /** The `messaging.system` label the transport maps to. */
  readonly system: string
  /** Longest wait for the messages to be handled, in ms. */
  readonly timeoutMs: number
  /** A second transport of the same kind, to delete the suite's topic afterwards (absent: nothing to delete). */
  readonly admin?: () => Transport
}

/** `promtool`'s path, or a failure that says how to install it. */
export function promtool(): string {
  const found = spawnSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' })
  const path = found.stdout.trim()
  if (found.status !== 0 || path === '') {
    throw new Error(
      'promtool is missing: `npm test` installs it (scripts/test.sh); by hand: apt-get install -y prometheus',
    )
  }
  return path
}

/** Prometheus metric family names (`# TYPE name …`) of an exposition. */
export function familiesOf(text: string): string[] {
  return [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1] as string).sort()
}

async function get(server: HealthServer, path: string, method = 'GET') {
  const response = await fetch(`${server.url}${path}`, { method })
  return { status: response.status, type: response.headers.get('content-type'), body: await response.text() }
}

export function healthSuite(label: string, create: () => Transport, options: HealthSuiteOptions): void {
  describe(`health server on ${label}`, () => {
    const topic = `health.${label}.${randomUUID().replaceAll('-', '').slice(0, 10)}`
    const handled: string[] = []

    class Mailer {
      @Handle(topic, { group: 'mailer' })
      send(message: Message<unknown>): void {
        handled.push(message.id)
      }
    }

    const prometheus = new PrometheusMetrics()
    const meterProvider = new MeterProvider({ readers: [prometheus.reader as unknown as MetricReader] })
    let app: SwitchyardApp
    let server: HealthServer

    beforeAll(async () => {
      promtool()
      const transport = create()
      const telemetry = new BusTelemetry(transport, { meterProvider, traces: false })
      app = await configure(container.createChildContainer(), {
        transport,
        bus: { ...telemetry.busOptions, logger: false },
        services: [Mailer],
      })
      server = await serveHealth(app, { port: 0, host: '127.0.0.1', metrics: prometheus })
    }, 60_000)

    afterAll(async () => {
      await server?.close()
      await app?.stop({ timeoutMs: 5_000 })
      await meterProvider.shutdown()
      if (options.admin !== undefined) {
        const admin = options.admin()
        await admin.deprovision(topic, { groups: ['mailer'] }).catch(() => undefined)
        await admin.close({ drain: false })
      }
    }, 60_000)

    it('is live and not ready before start, ready once every handler is attached', async () => {
      const live = await get(server, '/healthz')
      expect(live.status).toBe(200)
      expect(JSON.parse(live.body)).toEqual({ status: 'ok' })
      const early = await get(server, '/readyz')
      expect(early.status).toBe(503)
      expect((JSON.parse(early.body) as Readiness).reasons).toContain('app is configured')

      await app.start()
      const ready = await get(server, '/readyz')
      expect(ready.status).toBe(200)
      expect(ready.type).toBe('application/json')
      const body = JSON.parse(ready.body) as Readiness
      expect(body.ready).toBe(true)
      expect(body.state).toBe('started')
      expect(body.handlers).toEqual([
        { service: 'Mailer', method: 'send', topic, group: 'mailer', ready: true },
      ])
      expect(body.transport?.status).toBe('up')
      expect(body.transport?.subscriptions.map((s) => s.topic)).toContain(topic)
    }, 60_000)

    it('serves /metrics that promtool accepts, with the same families on every transport', async () => {
      for (let i = 0; i < 5; i++) await app.bus.publish(topic, { n: i })
      const deadline = Date.now() + options.timeoutMs
      while (handled.length < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
      expect(handled).toHaveLength(5)

      const scraped = await get(server, '/metrics')
      expect(scraped.status).toBe(200)
      expect(scraped.type).toBe('text/plain; version=0.0.4; charset=utf-8')
      const checked = spawnSync(promtool(), ['check', 'metrics'], { input: scraped.body, encoding: 'utf8' })
      expect({ code: checked.status, output: `${checked.stdout}${checked.stderr}`.trim() }).toEqual({
        code: 0,
        output: '',
      })
      expect(familiesOf(scraped.body).filter((f) => !f.startsWith('target_info'))).toEqual(expectedFamilies)
      const system = `messaging_system="${options.system}"`
      expect(scraped.body).toMatch(
        new RegExp(`^messaging_client_sent_messages_total\\{[^}]*${system}[^}]*\\} 5$`, 'm'),
      )
      expect(scraped.body).toMatch(
        new RegExp(
          `^messaging_client_consumed_messages_total\\{[^}]*messaging_destination_name="${topic}"[^}]*\\} 5$`,
          'm',
        ),
      )
      expect(scraped.body).toMatch(new RegExp(`^switchyard_transport_up\\{${system}[^}]*\\} 1$`, 'm'))
      expect(scraped.body).toMatch(new RegExp(`^switchyard_publish_buffered\\{${system}[^}]*\\} 0$`, 'm'))
      expect(scraped.body).toMatch(
        /^switchyard_consumer_lag\{[^}]*messaging_consumer_group_name="mailer"[^}]*\} \d+$/m,
      )
    }, 60_000)

    it('answers 404 for other paths, 405 for other methods, 503 once stopped', async () => {
      expect((await get(server, '/nope')).status).toBe(404)
      expect((await get(server, '/metrics', 'POST')).status).toBe(405)
      await app.stop({ timeoutMs: 5_000 })
      expect((await get(server, '/readyz')).status).toBe(503)
      const live = await get(server, '/healthz')
      expect(live.status).toBe(503)
      expect(JSON.parse(live.body)).toEqual({ status: 'failing', reason: 'app stopped' })
    }, 60_000)
  })
}

/** Runs `promtool --version` (for the test log). */
export function promtoolVersion(): string {
  return execFileSync(promtool(), ['--version'], { encoding: 'utf8' }).split('\n')[0] ?? ''
}
