/**
 * What every managed broker looks like to the manager (`up`, `stop`, `status`), the results it
 * reports, and the one error type the manager throws. Not an implementation of any broker.
 */
import type { BrokerName } from './env.js'

/** How `up` found a broker: already running and healthy, or started now. */
export type UpAction = 'reused' | 'started'

/** The outcome of bringing one broker up. */
export interface UpResult {
  broker: BrokerName
  action: UpAction
  /** The process serving the broker's port (undefined if it could not be identified). */
  pid: number | undefined
  version: string | undefined
  /** Wall-clock time `up` spent on this broker, installs and downloads included. */
  ms: number
  /** For `restart`: the time stopping took before `ms` of starting. */
  stopMs?: number
}

/** What `status` reports for one broker. */
export interface BrokerStatus {
  broker: BrokerName
  running: boolean
  /** Whether this manager started it (pid file) rather than finding it running. */
  managed: boolean
  pid: number | undefined
  version: string | undefined
  ports: Record<string, number>
  dataDir: string | undefined
  logFile: string | undefined
}

/** One broker process the manager can start, stop and inspect. */
export interface BrokerDriver {
  readonly name: BrokerName
  /** Reuses a healthy running broker or starts one, and returns once it is ready. */
  up(): Promise<UpResult>
  /** Stops the broker and waits until its process is gone. Data is kept. */
  stop(): Promise<void>
  status(): Promise<BrokerStatus>
  /** The log file to read when something goes wrong. */
  logFile(): string
}

/**
 * A broker could not be installed, started, checked or stopped. The message says what failed,
 * what to do, and where the log is.
 */
export class BrokerError extends Error {
  override readonly name = 'BrokerError'
  constructor(
    readonly broker: BrokerName | 'all',
    message: string,
    readonly logFile?: string,
  ) {
    super(`[${broker}] ${message}${logFile ? `\n  log: ${logFile}` : ''}`)
  }
}
