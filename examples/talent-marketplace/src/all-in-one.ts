/**
 * The whole marketplace in ONE process — the README's `npm start`.
 *
 * Every service runs side by side on one transport (memory unless `TRANSPORT` or
 * `SWITCHYARD_TRANSPORT_KEY` says otherwise), prints what flows through it, and exits 0 after a
 * bounded run:
 *   1. registration publishes the first half of DEMO_REGISTRATIONS (default 300) registrations;
 *   2. once they are all handled, the notification template is changed in the config store —
 *      the services pick it up live;
 *   3. the second half is published with the new template;
 *   4. the search index is asked who is listed under one category (request–reply, `bus.request`),
 *      then everything stops gracefully.
 */
import 'reflect-metadata' // first: tsyringe reads the decorator metadata it records
import type { ConfigStore } from '@switchyard/config'
import type { HandlerSubscription } from '@switchyard/core'
import { expectedOutcome, reachedExpected, tally } from './expected-outcome.js'
import { serviceClasses, startMarketplace } from './marketplace.js'
import { defaultTemplate } from './notification-settings.js'
import { NotificationsService } from './notifications-service.js'
import { ConsoleOutcomeLog, MemoryOutcomeLog, TeeOutcomeLog } from './outcome-log.js'
import { RegistrationService } from './registration-service.js'
import { SearchIndexService } from './search-index-service.js'
import { settingsKeys, type TalentSearchResult, topics } from './topics.js'
import { startTracing, traceTree } from './tracing.js'
import { waitFor } from './wait-for.js'

const total = Number(process.env.DEMO_REGISTRATIONS ?? 300)
const half = Math.floor(total / 2)
const newTemplate = 'Hi {name}, clients can now find you under {category} (profile v{version}).'
const say = (line: string) => process.stdout.write(`${line}\n`)

const recorded = new MemoryOutcomeLog()
const tracing = startTracing('all-in-one', process.env)
const services = [
  ...serviceClasses.notifications,
  ...serviceClasses['search-index'],
  ...serviceClasses.worker,
  RegistrationService, // the publisher, without its HTTP endpoint
]
const app = await startMarketplace(services, {
  outcomes: new TeeOutcomeLog(new ConsoleOutcomeLog(say), recorded),
  defaultKind: 'memory',
  tracing,
})
app.installShutdownSignals({ exit: true })
const store = app.configStore as ConfigStore
const caps = app.transport.capabilities

say(`\n== Talent marketplace on the ${app.transport.kind} transport, all services in one process`)
say(
  `   capabilities: ordered by key ${caps.orderedByKey}, priorities ${caps.priority}, persistent ${caps.persistent}`,
)
// `@Handle` methods, then the handlers the services subscribe themselves in `onStart`.
const subscriptions: [string, HandlerSubscription | undefined][] = [
  ...app.handlers.map((h): [string, HandlerSubscription] => [`${h.service}.${h.method}`, h.subscription]),
  ['NotificationsService.onTalentRegistered', app.container.resolve(NotificationsService).subscription],
  ['SearchIndexService.search (replies)', app.container.resolve(SearchIndexService).replies],
]
say(`   handlers: ${subscriptions.map(([name, s]) => `${name} (${s?.topic} / ${s?.group})`).join(', ')}\n`)

// Retries are visible on the Bus's event stream.
let retries = 0
app.bus.events$.subscribe((event) => {
  if (event.type === 'handler-failed' && event.willRetry && ++retries <= 3) {
    say(`↻ retry in ${event.delayMs} ms: ${event.message.id} failed with "${event.error.message}"`)
  }
})

try {
  await store.put(settingsKeys.notifications, { template: defaultTemplate })
  const registration = app.container.resolve(RegistrationService)

  say(`== 1. publishing registrations 0-${half - 1}`)
  await registration.publishRange(0, half)
  await waitFor(
    'the first half to be handled',
    () => reachedExpected(recorded.outcomes, expectedOutcome(half)),
    30_000,
  )

  say(`\n== 2. changing the notification template in the config store (no restart)`)
  await store.put(settingsKeys.notifications, { template: newTemplate })
  await waitFor(
    'the new template',
    () => recorded.of('template-changed').some((o) => o.template === newTemplate),
    5_000,
  )

  say(`\n== 3. publishing registrations ${half}-${total - 1}`)
  await registration.publishRange(half, total - half)
  const expected = expectedOutcome(total)
  await waitFor(
    'every registration to be handled',
    () => reachedExpected(recorded.outcomes, expected),
    30_000,
  )

  say(`\n== 4. asking the search index who is listed under "design" (request–reply)`)
  const found = await app.bus.request<TalentSearchResult>(
    topics.searchTalents,
    { category: 'design', limit: 3 },
    { timeoutMs: 5_000 },
  )
  say(
    `   ${found.total} talents; the first ${found.talents.length}: ${found.talents.map((t) => `${t.name} (v${t.version})`).join(', ')}`,
  )

  const t = tally(recorded.outcomes)
  const workers = new Set(recorded.of('job-processed').map((o) => o.worker)).size
  say(`\n== Summary of ${total} registrations`)
  say(
    `   notifications sent:      ${t.notified} (expected ${expected.notified.length}), re-sent copies skipped: ${t.duplicatesSkipped}`,
  )
  say(`   retried after a failure: ${retries}`)
  say(`   dead letters:            ${t.deadLettered} (expected ${expected.deadLettered.length})`)
  say(
    `   search index updates:    ${t.indexed} for ${expected.finalVersions.size} talents, out of order: ${t.outOfOrder}`,
  )
  say(`   files processed:         ${t.jobs} by ${workers} worker process(es)`)
  say(
    `   with the new template:   ${recorded.of('notification-sent').filter((o) => o.text.startsWith('Hi ')).length}`,
  )
  // One trace: a registration that was dead-lettered, from its publish through every consumer.
  const spans = tracing.spans()
  const audited = spans.find((s) => s.name.startsWith('process ') && s.name.endsWith('.dlq'))
  if (audited !== undefined) {
    const tree = traceTree(spans, audited.traceId)
    say(`\n== Trace ${audited.traceId} of one dead-lettered registration (${tree.length} spans)`)
    for (const line of tree) say(`   ${line}`)
  }
  await app.stop()
  say('\n== stopped gracefully: every handler drained, transport closed')
} catch (error) {
  console.error('demo failed:', error)
  await app.stop().catch(() => undefined)
  process.exitCode = 1
}
