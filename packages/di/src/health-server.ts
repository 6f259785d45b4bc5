/**
 * `serveHealth`: an HTTP server for the probes and the scrape of a `SwitchyardApp` — `/healthz`
 * (liveness), `/readyz` (every handler attached, transport connected, with `health()` as JSON)
 * and `/metrics` (a Prometheus text exposition from any {@link MetricsSource}, e.g.
 * `PrometheusMetrics` of `@switchyard/otel/prometheus`). Off unless called; the port is the
 * caller's. Uses `node:http` only: three read-only routes need no framework.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { HealthReport } from '@switchyard/core'
import { ConfigError } from '@switchyard/core'
import type { SwitchyardApp } from './switchyard-app.js'

/** What `/metrics` serves: text in `contentType` (Prometheus' text format, usually). */
export interface MetricsSource {
  readonly contentType: string
  collect(): Promise<string>
}

export interface HealthServerOptions {
  /** TCP port to listen on; `0` picks a free one (read it from `server.port`). Required. */
  readonly port: number
  /**
   * Address to bind (default `0.0.0.0`, so that an orchestrator's probes and Prometheus reach it;
   * `127.0.0.1` keeps it local).
   */
  readonly host?: string
  /** Serves `/metrics` when given; without it `/metrics` answers 404. */
  readonly metrics?: MetricsSource
  /** Longest wait for `transport.health()` in `/readyz`, ms (default 2,000); slower counts as not ready. */
  readonly healthTimeoutMs?: number
}

/** One handler's readiness, as `/readyz` reports it. */
export interface HandlerReadiness {
  readonly service: string
  readonly method: string
  readonly topic: string
  readonly group: string | undefined
  /** Attached to the broker (its `ready` resolved) and not restarting or failed. */
  readonly ready: boolean
}

/** The JSON body of `/readyz`. */
export interface Readiness {
  readonly ready: boolean
  /** The app's lifecycle state (`started` when ready). */
  readonly state: string
  /** Why not ready (absent when ready). */
  readonly reasons?: readonly string[]
  readonly handlers: readonly HandlerReadiness[]
  /** `transport.health()`, or `undefined` when it failed or timed out (see `reasons`). */
  readonly transport: HealthReport | undefined
}

/** A running health server. */
export interface HealthServer {
  /** The port it listens on (the chosen one when `port` was 0). */
  readonly port: number
  /** `http://host:port`, for logs and tests. */
  readonly url: string
  /** Stops listening and ends open connections. Idempotent. */
  close(): Promise<void>
}

/**
 * Serves `/healthz`, `/readyz` and `/metrics` for `app` on `options.port`.
 *
 * - `GET /healthz`: 200 `{"status":"ok"}` while the process can serve; 503 once the Bus's
 *   supervision escalated (a restart budget exceeded: restart the process) or the app stopped.
 * - `GET /readyz`: 200 when the app is started, every `@Handle` subscription is attached and
 *   running, and `transport.health()` says `up`; else 503. The body is {@link Readiness}, with the
 *   transport's `health()` report (never credentials).
 * - `GET /metrics`: `options.metrics.collect()` as `options.metrics.contentType`; 404 without a
 *   source, 500 when collecting fails.
 * Other paths answer 404, other methods than GET and HEAD 405.
 *
 * Rejects with `ConfigError` for a bad port and with the listen error (e.g. `EADDRINUSE`) when
 * the port is taken. Close it before or after `app.stop()`.
 *
 * @example
 * const app = await configure({ ... })
 * await app.start()
 * const health = await serveHealth(app, { port: 9464, metrics: prometheus })
 * app.installShutdownSignals()
 */
export async function serveHealth(app: SwitchyardApp, options: HealthServerOptions): Promise<HealthServer> {
  const port = options?.port
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new ConfigError('serveHealth', [`port must be an integer from 0 to 65535, got ${String(port)}`], {
      context: { field: 'port' },
    })
  }
  const timeoutMs = options.healthTimeoutMs ?? 2_000
  if (!(typeof timeoutMs === 'number' && timeoutMs > 0 && Number.isFinite(timeoutMs))) {
    throw new ConfigError('serveHealth', [`healthTimeoutMs must be a number > 0, got ${String(timeoutMs)}`], {
      context: { field: 'healthTimeoutMs' },
    })
  }
  const host = options.host ?? '0.0.0.0'
  const attached = new WeakSet<object>()
  const route = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const path = (request.url ?? '/').split('?', 1)[0]
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.setHeader('allow', 'GET, HEAD')
      return send(response, 405, 'application/json', json({ error: 'method not allowed' }))
    }
    switch (path) {
      case '/healthz': {
        const escalated = app.bus.supervision()?.escalated === true
        const alive = !escalated && app.state !== 'stopped'
        const body = alive
          ? { status: 'ok' }
          : { status: 'failing', reason: escalated ? 'supervision escalated' : 'app stopped' }
        return send(response, alive ? 200 : 503, 'application/json', json(body))
      }
      case '/readyz': {
        const readiness = await readinessOf(app, attached, timeoutMs)
        return send(response, readiness.ready ? 200 : 503, 'application/json', json(readiness))
      }
      case '/metrics': {
        if (options.metrics === undefined) {
          return send(response, 404, 'application/json', json({ error: 'no metrics source configured' }))
        }
        let text: string
        try {
          text = await options.metrics.collect()
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error)
          return send(response, 500, 'text/plain; charset=utf-8', `# collecting metrics failed: ${message}\n`)
        }
        return send(response, 200, options.metrics.contentType, text)
      }
      default:
        return send(response, 404, 'application/json', json({ error: `no route ${path}` }))
    }
  }
  const server: Server = createServer((request, response) => {
    route(request, response).catch(() => {
      if (!response.headersSent) response.statusCode = 500
      response.end()
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const bound = (server.address() as AddressInfo).port
  let closing: Promise<void> | undefined
  return {
    port: bound,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}`,
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
      return closing
    },
  }
}

async function readinessOf(
  app: SwitchyardApp,
  attached: WeakSet<object>,
  timeoutMs: number,
): Promise<Readiness> {
  const reasons: string[] = []
  if (app.state !== 'started') reasons.push(`app is ${app.state}`)
  const children = app.bus.supervision()?.children ?? []
  const handlers: HandlerReadiness[] = []
  for (const handler of app.handlers) {
    const { subscription } = handler
    if (!attached.has(subscription)) {
      // `ready` is a promise: remember once it resolved, so the next probe sees it synchronously.
      subscription.ready.then(
        () => attached.add(subscription),
        () => undefined,
      )
      await Promise.race([subscription.ready.catch(() => undefined), Promise.resolve()])
    }
    const child = children.find((c) => c.topic === subscription.topic && c.group === subscription.group)
    const running = child === undefined || child.state === 'running'
    const ready = attached.has(subscription) && running
    if (!ready) {
      reasons.push(
        `${handler.service}.${handler.method} (${subscription.topic}) is ${running ? 'not attached yet' : child?.state}`,
      )
    }
    handlers.push({
      service: handler.service,
      method: handler.method,
      topic: subscription.topic,
      group: subscription.group,
      ready,
    })
  }
  let transport: HealthReport | undefined
  let timer: NodeJS.Timeout | undefined
  try {
    transport = await Promise.race([
      app.transport.health(),
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`health() took longer than ${timeoutMs} ms`)), timeoutMs)
      }),
    ])
    if (transport.status !== 'up') reasons.push(`transport is ${transport.state}`)
  } catch (error) {
    reasons.push(`transport health failed: ${error instanceof Error ? error.message : String(error)}`)
  } finally {
    clearTimeout(timer)
  }
  const ready = reasons.length === 0
  return {
    ready,
    state: app.state,
    ...(ready ? {} : { reasons }),
    handlers,
    transport,
  }
}

function json(value: unknown): string {
  return JSON.stringify(value)
}

function send(response: ServerResponse, status: number, contentType: string, body: string): void {
  response.statusCode = status
  response.setHeader('content-type', contentType)
  response.setHeader('cache-control', 'no-store')
  response.end(body)
}
