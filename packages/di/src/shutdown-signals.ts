/**
 * Graceful shutdown on process signals: SIGTERM/SIGINT → `app.stop()`.
 *
 * Listeners are installed on request and can be removed; library code never calls
 * `process.exit` unless the caller opts in with `exit: true` (for a service's `main`). This module
 * knows nothing about transports; it only calls `stop()`.
 */

/** Where signals come from (default `process`); tests pass an `EventEmitter`. */
export interface SignalSource {
  on(signal: NodeJS.Signals, listener: () => void): unknown
  off(signal: NodeJS.Signals, listener: () => void): unknown
}

export interface ShutdownSignalOptions {
  /** Signals that stop the app (default `['SIGTERM', 'SIGINT']`). */
  readonly signals?: readonly NodeJS.Signals[]
  /** Passed to `stop()`: longest drain per subscription in ms (default 10,000). */
  readonly timeoutMs?: number
  /**
   * Opt-in for a service's entry point: after `stop()`, exit the process with code 0 (or 1 if
   * stopping failed); a second signal while stopping exits at once with code 1. Default false.
   */
  readonly exit?: boolean
  /** Called with the signal received, before stopping (e.g. to log it). */
  readonly onSignal?: (signal: NodeJS.Signals) => void
  /** Called if `stop()` rejects (default: written to stderr). */
  readonly onError?: (error: unknown) => void
  /** Where to listen (default `process`). */
  readonly source?: SignalSource
  /** How to exit when `exit` is true (default `process.exit`). */
  readonly exitProcess?: (code: number) => void
}

/** What `installShutdownSignals` needs from an app. */
export interface Stoppable {
  stop(options?: { readonly timeoutMs?: number }): Promise<void>
}

/**
 * Stops `app` when one of `signals` arrives. Returns a function that removes the listeners; they
 * are removed by themselves once the stop has finished.
 *
 * @example
 * const app = await configure(container, { transport: fromEnv(), services: [Notifications] })
 * await app.start()
 * installShutdownSignals(app, { exit: true })
 */
export function installShutdownSignals(app: Stoppable, options: ShutdownSignalOptions = {}): () => void {
  const source: SignalSource = options.source ?? process
  const signals = options.signals ?? ['SIGTERM', 'SIGINT']
  const exitProcess = options.exitProcess ?? ((code: number) => process.exit(code))
  const onError =
    options.onError ??
    ((error: unknown) => process.stderr.write(`switchyard: stop failed: ${String(error)}\n`))
  let stopping = false
  const listeners = new Map<NodeJS.Signals, () => void>()
  const remove = (): void => {
    for (const [signal, listener] of listeners) source.off(signal, listener)
    listeners.clear()
  }
  for (const signal of signals) {
    const listener = (): void => {
      if (stopping) {
        if (options.exit) exitProcess(1)
        return
      }
      stopping = true
      options.onSignal?.(signal)
      const stopOptions = options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }
      app.stop(stopOptions).then(
        () => {
          remove()
          if (options.exit) exitProcess(0)
        },
        (error: unknown) => {
          remove()
          onError(error)
          if (options.exit) exitProcess(1)
        },
      )
    }
    listeners.set(signal, listener)
    source.on(signal, listener)
  }
  return remove
}
