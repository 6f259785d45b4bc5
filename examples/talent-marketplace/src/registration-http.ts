/**
 * A small HTTP front door for the registration service (node:http, no framework):
 *
 *   POST /registrations?from=0&count=100   publish generated registrations; replies with a summary
 *   GET  /health                           the transport's health report
 *
 * It listens on `REGISTRATION_PORT` (default 0: any free port, reported as a `listening` outcome)
 * from `onStart` and closes in `onStop`, before the app drains its handlers.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Transport } from '@switchyard/core'
import { type OnStart, type OnStop, TRANSPORT } from '@switchyard/di'
import { inject, injectable } from 'tsyringe'
import { OUTCOME_LOG, type OutcomeLog } from './outcome-log.js'
import { RegistrationService } from './registration-service.js'

@injectable()
export class RegistrationHttp implements OnStart, OnStop {
  #server: Server | undefined

  constructor(
    @inject(RegistrationService) private readonly registration: RegistrationService,
    @inject(TRANSPORT) private readonly transport: Transport,
    @inject(OUTCOME_LOG) private readonly log: OutcomeLog,
  ) {}

  async onStart(): Promise<void> {
    const server = createServer((req, res) => {
      this.#route(req, res).catch((error: unknown) => reply(res, 500, { error: String(error) }))
    })
    this.#server = server
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(Number(process.env.REGISTRATION_PORT ?? 0), '127.0.0.1', resolve)
    })
    this.log.record({ type: 'listening', port: (server.address() as AddressInfo).port })
  }

  async onStop(): Promise<void> {
    const server = this.#server
    if (!server) return
    await new Promise<void>((resolve) => server.close(() => resolve()))
    server.closeAllConnections()
  }

  async #route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost')
    if (req.method === 'POST' && url.pathname === '/registrations') {
      const from = Number(url.searchParams.get('from') ?? 0)
      const count = Number(url.searchParams.get('count') ?? 1)
      if (!Number.isInteger(from) || from < 0 || !Number.isInteger(count) || count < 1 || count > 10_000) {
        return reply(res, 400, { error: 'from must be an integer >= 0 and count an integer from 1 to 10000' })
      }
      return reply(res, 200, await this.registration.publishRange(from, count))
    }
    if (req.method === 'GET' && url.pathname === '/health')
      return reply(res, 200, await this.transport.health())
    reply(res, 404, { error: 'POST /registrations?from=&count= or GET /health' })
  }
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
}
