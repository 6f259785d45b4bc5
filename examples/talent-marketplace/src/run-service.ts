/**
 * The body of every one-service entry point (`node dist/notifications.js` …): start the service's
 * classes, report `ready`, and stop gracefully on SIGTERM/SIGINT (exit code 0 once drained).
 * Outcomes go to `OUTCOMES_FILE` (JSON lines) when it is set, else to the console; spans go to
 * `SPANS_FILE` (JSON lines) when it is set.
 * `MARKETPLACE_LIVE_SWITCH=1` makes the service follow its transport document in etcd live
 * (`liveSwitch`); each switch step is reported as a `transport-event` outcome.
 */
import 'reflect-metadata' // first: tsyringe reads the decorator metadata it records
import type { AppEvent } from '@switchyard/di'
import { type ServiceName, serviceClasses, startMarketplace } from './marketplace.js'
import { ConsoleOutcomeLog, FileOutcomeLog, type Outcome, type OutcomeLog } from './outcome-log.js'
import { startTracing } from './tracing.js'

/** An app event as an outcome line. */
function transportEvent(event: AppEvent): Outcome {
  const base = { type: 'transport-event', event: event.type, revision: event.revision } as const
  if (event.type === 'transport-switch-started') return { ...base, from: event.from, to: event.to }
  if (event.type === 'transport-switch-refused')
    return { ...base, current: event.current, reason: event.error.message }
  const { from, to, publishMovedAt, durationMs, forwarded, possibleDuplicates } = event
  return {
    ...base,
    ...{ from, to, publishMovedAt, durationMs, forwarded, possibleDuplicates },
    leftBehind: event.leftBehind.length,
  }
}

export async function runService(name: ServiceName): Promise<void> {
  const file = process.env.OUTCOMES_FILE
  const outcomes: OutcomeLog = file ? new FileOutcomeLog(file) : new ConsoleOutcomeLog()
  try {
    // Traces to SPANS_FILE (JSON lines) when set; a deployment would export OTLP instead.
    const tracing = process.env.SPANS_FILE ? startTracing(name, process.env) : undefined
    const liveSwitch = process.env.MARKETPLACE_LIVE_SWITCH === '1'
    const app = await startMarketplace(serviceClasses[name], {
      outcomes,
      liveSwitch,
      ...(tracing ? { tracing } : {}),
    })
    app.events$.subscribe((event) => outcomes.record(transportEvent(event)))
    app.installShutdownSignals({
      exit: true,
      onSignal: (signal) => console.log(`${name}: ${signal}, draining…`),
    })
    console.log(`${name}: running on the ${app.transport.kind} transport (pid ${process.pid})`)
    outcomes.record({ type: 'ready', service: name })
  } catch (error) {
    console.error(`${name}: could not start:`, error instanceof Error ? error.message : error)
    process.exit(1) // an entry point may exit; the library never does
  }
}
