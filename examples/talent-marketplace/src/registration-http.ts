/**
 * A small HTTP front door for the registration service (node:http, no framework):
 *
 *   POST /registrations?from=0&count=100   publish generated registrations; replies with a summary
 *   GET  /talents?category=design&name=ada&limit=5
 *                                          asks the search index (request–reply on `search.talents`)
 *   GET  /health                           the transport's health report
 *
 * A search waits at most `SEARCH_TIMEOUT_MS` (default 10,000: the first request on Kafka also
 * attaches this process's reply topic) and answers 504 when the search index did not reply in
 * time, 503 when the broker says nothing answers that topic, 502 when the search index failed.
 *
 * It listens on `REGISTRATION_PORT` (default 0: any free port, reported as a `listening` outcome)
 * from `onStart` and closes in `onStop`, before the app drains its handlers.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { type Bus, isSwitchyardError, type Transport } from '@switchyard/core'
import { BUS, type OnStart, type OnStop, TRANSPORT } from '@switchyard/di'
import { inject, injectable } from 'tsyringe'
import { OUTCOME_LOG, type OutcomeLog } from './outcome-log.js'
import { RegistrationService } from './registration-service.js'
import { type TalentSearch, type TalentSearchResult, topics } from './topics.js'

/** HTTP status of a failed search, by the error `bus.request` rejected with. */
const searchFailureStatus: Record<string, number> = {
  TimeoutError: 504,
  NoResponderError: 503,
  RemoteHandlerError: 502,
}

@injectable()
export class RegistrationHttp implements OnStart, OnStop {
  #server: Server | undefined

  constructor(
    @inject(RegistrationService) private readonly registration: RegistrationService,
    @inject(TRANSPORT) private readonly transport: Transport,
    @inject(BUS) private readonly bus: Bus,
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
    if (req.method === 'GET' && url.pathname === '/talents') return this.#search(url.searchParams, res)
    if (req.method === 'GET' && url.pathname === '/health')
      return reply(res, 200, await this.transport.health())
    reply(res, 404, {
      error: 'POST /registrations?from=&count=, GET /talents?category=&name=&limit= or GET /health',
    })
  }

  async #search(params: URLSearchParams, res: ServerResponse): Promise<void> {
    const limit = Number(params.get('limit') ?? 20)
    if (!Number.isInteger(limit) || limit < 0 || limit > 100) {
      return reply(res, 400, { error: 'limit must be an integer from 0 to 100' })
    }
    const category = params.get('category')
    const name = params.get('name')
    const query: TalentSearch = {
      limit,
      ...(category === null ? {} : { category }),
      ...(name === null ? {} : { name }),
    }
    try {
      const result = await this.bus.request<TalentSearchResult>(topics.searchTalents, query, {
        timeoutMs: Number(process.env.SEARCH_TIMEOUT_MS ?? 10_000),
      })
      reply(res, 200, result)
    } catch (error) {
      const status = isSwitchyardError(error) ? searchFailureStatus[error.name] : undefined
      if (status === undefined || !(error instanceof Error)) throw error // → 500
      reply(res, status, { error: error.name, message: error.message })
    }
  }
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
}
