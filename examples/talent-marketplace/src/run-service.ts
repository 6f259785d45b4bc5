/**
 * The body of every one-service entry point (`node dist/notifications.js` …): start the service's
 * classes, report `ready`, and stop gracefully on SIGTERM/SIGINT (exit code 0 once drained).
 * Outcomes go to `OUTCOMES_FILE` (JSON lines) when it is set, else to the console; spans go to
 * `SPANS_FILE` (JSON lines) when it is set.
 */
import 'reflect-metadata' // first: tsyringe reads the decorator metadata it records
import { type ServiceName, serviceClasses, startMarketplace } from './marketplace.js'
import { ConsoleOutcomeLog, FileOutcomeLog, type OutcomeLog } from './outcome-log.js'
import { startTracing } from './tracing.js'

export async function runService(name: ServiceName): Promise<void> {
  const file = process.env.OUTCOMES_FILE
  const outcomes: OutcomeLog = file ? new FileOutcomeLog(file) : new ConsoleOutcomeLog()
  try {
    // Traces to SPANS_FILE (JSON lines) when set; a deployment would export OTLP instead.
    const tracing = process.env.SPANS_FILE ? startTracing(name, process.env) : undefined
    const app = await startMarketplace(serviceClasses[name], { outcomes, ...(tracing ? { tracing } : {}) })
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
