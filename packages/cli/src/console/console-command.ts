/**
 * `switchyard console`: serves the web console (see `server.ts`) on 127.0.0.1 until Ctrl-C.
 * It keeps one transport open (status, lag sampling, live tail), opens the etcd store when one is
 * configured, and runs dead-letter actions through the CLI's `runDlq`.
 */
import { randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import type { ConfigStore } from '@switchyard/config'
import type { Inspection, InspectOptions } from '@switchyard/core'
import { openConfigStore, openTransport } from '../connection.js'
import { aborted, type CommandContext } from '../context.js'
import { runDlq } from '../dlq-command.js'
import { CliError, ExitCode } from '../exit-codes.js'
import { inspectTransport } from '../lag-command.js'
import { Output } from '../output.js'
import { LagSampler } from './lag-history.js'
import { consoleApp } from './server.js'

export interface ConsoleFlags {
  readonly port: number
  readonly token?: string
  /** `topic:group` pairs to inspect where the broker cannot list groups (RabbitMQ). */
  readonly groups: readonly string[]
  readonly dlqGroup: string
  readonly sampleMs: number
}

/** The `inspect` calls the sampler makes: everything, or the named groups per topic. */
export function inspectPlan(pairs: readonly string[]): InspectOptions[] {
  if (pairs.length === 0) return [{}]
  const byTopic = new Map<string, string[]>()
  for (const pair of pairs) {
    const at = pair.lastIndexOf(':')
    if (at <= 0 || at === pair.length - 1) {
      throw new CliError(
        `--group ${JSON.stringify(pair)} must be topic:group (e.g. orders:billing).`,
        ExitCode.usage,
      )
    }
    const topic = pair.slice(0, at)
    byTopic.set(topic, [...(byTopic.get(topic) ?? []), pair.slice(at + 1)])
  }
  return [...byTopic].map(([topic, groups]) => ({ topic, groups }))
}

export async function consoleCommand(ctx: CommandContext, flags: ConsoleFlags): Promise<void> {
  if (!Number.isInteger(flags.port) || flags.port < 0 || flags.port > 65_535) {
    throw new CliError('--port must be a whole number from 0 to 65535.', ExitCode.usage)
  }
  const plan = inspectPlan(flags.groups)
  const token = flags.token ?? ctx.env.SWITCHYARD_CONSOLE_TOKEN ?? randomBytes(18).toString('base64url')
  const connection = await openTransport(ctx.env)
  let store: ConfigStore | undefined
  const lag = new LagSampler()
  let timer: NodeJS.Timeout | undefined
  try {
    if (ctx.env.SWITCHYARD_ETCD_ENDPOINTS) store = openConfigStore(ctx.env)
    const sample = async (): Promise<void> => {
      try {
        const parts = await Promise.all(plan.map((o) => inspectTransport(connection.transport, o)))
        const inspection: Inspection = {
          topics: parts.flatMap((p) => p.topics),
          groups: parts.flatMap((p) => p.groups),
          complete: parts.every((p) => p.complete),
          at: Date.now(),
        }
        lag.record(inspection)
      } catch (error) {
        lag.fail(error)
      }
      if (!ctx.signal.aborted) timer = setTimeout(() => void sample(), flags.sampleMs)
    }
    void sample()

    let port = flags.port
    const app = consoleApp({
      transport: connection.transport,
      ...(store === undefined ? {} : { store }),
      token,
      port: () => port,
      lag,
      dlq: (action, topic, ids) =>
        runDlq(
          { out: new Output({ json: true, env: ctx.env }), env: ctx.env, signal: ctx.signal },
          topic,
          action,
          { group: flags.dlqGroup, filter: { ids }, limit: 1_000, waitMs: 2_000, dryRun: false },
        ),
    })
    const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
      const s = serve({ fetch: app.fetch, port: flags.port, hostname: '127.0.0.1' }, () => resolve(s))
      s.once('error', reject)
    })
    port = (server.address() as AddressInfo).port
    const url = `http://127.0.0.1:${port}/`
    if (ctx.out.json) ctx.out.data({ url, login: `${url}login?token=${token}` })
    else {
      ctx.out.line(
        `switchyard console on ${ctx.out.c.bold(url)} (${connection.transport.kind}; Ctrl-C to stop)`,
      )
      ctx.out.line(`to enable actions, open ${url}login?token=${token}`)
    }
    await aborted(ctx.signal)
    await new Promise<void>((resolve) => {
      server.close(() => resolve())
      ;(server as { closeAllConnections?: () => void }).closeAllConnections?.()
    })
  } finally {
    clearTimeout(timer)
    await store?.close().catch(() => undefined)
    await connection.close()
  }
}
