/**
 * What every command gets: the output, the environment the connection is read from, and a
 * signal aborted by Ctrl-C / SIGTERM so streaming commands stop cleanly.
 */
import type { Output } from './output.js'

export interface CommandContext {
  readonly out: Output
  readonly env: NodeJS.ProcessEnv
  /** Aborted on SIGINT / SIGTERM. */
  readonly signal: AbortSignal
}

/** Resolves when `signal` aborts (at once if it already has). */
export function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve()
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }))
}
