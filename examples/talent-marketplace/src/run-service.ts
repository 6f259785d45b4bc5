/**
 * The body of every one-service entry point (`node dist/notifications.js` …): start the service's
 * classes, report `ready`, and stop gracefully on SIGTERM/SIGINT (exit code 0 once drained).
 * Outcomes go to `OUTCOMES_FILE` (JSON lines) when it is set, else to the console.
 */
import 'reflect-metadata' // first: tsyringe reads the decorator metadata it records
import { type ServiceName, serviceClasses, startMarketplace } from './marketplace.js'
import { ConsoleOutcomeLog, FileOutcomeLog, type OutcomeLog } from './outcome-log.js'

export async function runService(name: ServiceName): Promise<void> {
  const file = process.env.OUTCOMES_FILE
  const outcomes: OutcomeLog = file ? new FileOutcomeLog(file) : new ConsoleOutcomeLog()
  try {
    const app = await startMarketplace(serviceClasses[name], { outcomes })
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
