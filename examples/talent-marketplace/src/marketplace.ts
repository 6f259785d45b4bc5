/**
 * Wiring shared by every entry point: which classes make up each service, and how a process
 * starts a set of them with `@switchyard/di`.
 *
 * The transport comes from the environment (`TRANSPORT=memory|kafka|rabbitmq|redis|nats`) or from the
 * transport document in the config store (`SWITCHYARD_TRANSPORT_KEY`); the config store is etcd
 * when `SWITCHYARD_ETCD_ENDPOINTS` is set, else memory. The factories of the installed adapters
 * are registered here; which one is used is still configuration, not code. With
 * `MARKETPLACE_DATABASE_URL` (PostgreSQL), registration writes through the outbox (registration-db.ts).
 */
import 'reflect-metadata'
import type { ConfigStore } from '@switchyard/config'
import {
  configStoreFromEnv,
  configure,
  fromEnv,
  type LiveSwitchOptions,
  type ServiceClass,
  type SwitchyardApp,
} from '@switchyard/di'
import { kafkaTransport } from '@switchyard/kafka'
import { natsTransport } from '@switchyard/nats'
import { rabbitmqTransport } from '@switchyard/rabbitmq'
import { redisTransport } from '@switchyard/redis'
import { container as rootContainer } from 'tsyringe'
import { DeadLetterAudit } from './dead-letter-audit.js'
import { DEDUP_STORE, dedupStoreFor } from './dedup-store.js'
import { FileWorker } from './file-worker.js'
import { JobLoad } from './job-load.js'
import { NotificationsService } from './notifications-service.js'
import { OUTCOME_LOG, type OutcomeLog } from './outcome-log.js'
import { openRegistrationDb, REGISTRATION_DB } from './registration-db.js'
import { RegistrationHttp } from './registration-http.js'
import { RegistrationService } from './registration-service.js'
import { SearchIndexService } from './search-index-service.js'
import type { Tracing } from './tracing.js'

/** The classes of each service; a process runs one entry (or, on memory, all of them). */
export const serviceClasses = {
  registration: [RegistrationService, RegistrationHttp],
  notifications: [NotificationsService, DeadLetterAudit],
  'search-index': [SearchIndexService],
  worker: [FileWorker],
  /** A worker that also produces a steady load of jobs (to watch a live broker switch). */
  load: [FileWorker, JobLoad],
} satisfies Record<string, ServiceClass[]>

export type ServiceName = keyof typeof serviceClasses

export interface StartOptions {
  /** Where services report what they do. */
  readonly outcomes: OutcomeLog
  /** Environment to configure from (default `process.env`). */
  readonly env?: Readonly<Record<string, string | undefined>>
  /** Transport kind when neither `TRANSPORT` nor `SWITCHYARD_TRANSPORT_KEY` is set (default: none → error). */
  readonly defaultKind?: string
  /** A config store to use instead of the one the environment names. */
  readonly configStore?: ConfigStore
  /** Traces of every publish and handler run (`startTracing`); none when absent. */
  readonly tracing?: Tracing
  /** Follow the transport document live (needs `SWITCHYARD_TRANSPORT_KEY`); see `@switchyard/di`'s README. */
  readonly liveSwitch?: boolean | LiveSwitchOptions
}

/**
 * Configures a fresh child container with `services` and starts them (handlers subscribed and
 * ready). Also registers `DEDUP_STORE` (dedup-store.ts) for the transport the configuration chose.
 */
export async function startMarketplace(
  services: readonly ServiceClass[],
  options: StartOptions,
): Promise<SwitchyardApp> {
  const env = options.env ?? process.env
  const container = rootContainer.createChildContainer()
  container.register(OUTCOME_LOG, { useValue: options.outcomes })
  const app = await configure(container, {
    transport: fromEnv({ env, ...(options.defaultKind ? { defaultKind: options.defaultKind } : {}) }),
    transports: [kafkaTransport, rabbitmqTransport, redisTransport, natsTransport],
    configStore: options.configStore ?? configStoreFromEnv(env),
    services,
    ...(options.tracing ? { bus: { ...options.tracing.busOptions } } : {}),
    ...(options.liveSwitch ? { liveSwitch: options.liveSwitch } : {}),
  })
  options.tracing?.bind(app.transport)
  // Resolved on start, so it can depend on the transport the configuration chose.
  container.register(DEDUP_STORE, { useValue: dedupStoreFor(app.transport) })
  const databaseUrl = env.MARKETPLACE_DATABASE_URL
  const db =
    databaseUrl && services.includes(RegistrationService)
      ? await openRegistrationDb(databaseUrl, env.MARKETPLACE_DATABASE_SCHEMA)
      : null
  // A factory, not `useValue`: tsyringe takes a `useValue` of null for no provider at all.
  container.register(REGISTRATION_DB, { useFactory: () => db })
  await app.start()
  return app
}
