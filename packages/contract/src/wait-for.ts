/**
 * `waitFor`: poll a condition until it holds or a deadline passes.
 *
 * Tests of asynchronous brokers wait for a condition, never for a fixed time. This module is the
 * one polling loop the contract suite (and adapters' own tests) use. It is not a retry helper for
 * production code and does not hide errors: a condition that throws ends the wait at once.
 */

/** Options of {@link waitFor}. */
export interface WaitForOptions {
  /** Give up after this many ms (default 5,000). */
  readonly timeoutMs?: number
  /** Poll every this many ms (default 10). */
  readonly intervalMs?: number
  /**
   * What is awaited, for the error thrown on the deadline. A function is called then, so it can
   * report the current state (e.g. how many messages arrived so far).
   */
  readonly description?: string | (() => string)
}

/**
 * Resolves once `condition()` returns (or resolves to) `true`; rejects with an `Error` naming
 * the awaited condition when `timeoutMs` passes first. If `condition` throws, `waitFor` rejects
 * with that error immediately (use this to fail fast, e.g. when a stream errored).
 *
 * **When to use**: instead of `sleep(n)` before an assertion.
 *
 * @example
 * await waitFor(() => received.size === 100, {
 *   timeoutMs: 10_000,
 *   description: () => `100 messages, got ${received.size}`,
 * })
 */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  options: WaitForOptions = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 5_000
  const intervalMs = options.intervalMs ?? 10
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await condition()) return
    if (Date.now() >= deadline) {
      const what =
        typeof options.description === 'function'
          ? options.description()
          : (options.description ?? 'condition')
      throw new Error(`waitFor: timed out after ${timeoutMs} ms waiting for ${what}`)
    }
    await new Promise<void>((resolve) =>
      setTimeout(resolve, Math.min(intervalMs, Math.max(0, deadline - Date.now()))),
    )
  }
}

/**
 * Resolves or rejects as `promise` does, but rejects with an `Error` naming `what` if it has not
 * settled within `timeoutMs`. Use it for operations that must finish promptly (e.g. a close
 * without drain), so a hang fails with a clear message instead of the test timeout.
 */
export function withDeadline<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${timeoutMs} ms`)), timeoutMs)
  })
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer))
}
