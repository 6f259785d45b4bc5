/**
 * `SecretScan`: collects what a transport shows a user — errors (with their context), `health()`,
 * every `status$` value, log entries — as text, so a test can assert that a password appears nowhere.
 */
import type { Transport } from '@switchyard/core'

/** Everything captured so far, as one text to search. */
export class SecretScan {
  readonly #seen: string[] = []

  /** Records a value: an error as name, message and JSON (context included), anything else as JSON. */
  readonly capture = (value: unknown): void => {
    this.#seen.push(
      value instanceof Error
        ? `${value.name}: ${value.message} ${JSON.stringify(value)}`
        : JSON.stringify(value),
    )
  }

  /** How many values were captured (a scan of nothing proves nothing). */
  get count(): number {
    return this.#seen.length
  }

  get text(): string {
    return this.#seen.join('\n')
  }

  /**
   * Connects `transport` (a failure is captured, not thrown), reads `health()`, closes it, and captures
   * every `status$` value and error meanwhile.
   */
  async exercise(transport: Transport): Promise<void> {
    const status = transport.status$.subscribe({ next: this.capture, error: this.capture })
    try {
      await transport.connect().catch(this.capture)
      this.capture(await transport.health())
    } finally {
      await transport.close({ drain: false }).catch(this.capture)
      status.unsubscribe()
    }
  }
}

/**
 * Makes a transport, connects it and closes it: what `connect()` threw (`undefined` when it
 * connected) and how long the attempt took, for tests that bound how fast a mistake is reported.
 */
export async function connectOutcome(
  make: () => Transport | Promise<Transport>,
): Promise<{ readonly error: unknown; readonly ms: number }> {
  const began = Date.now()
  let transport: Transport | undefined
  try {
    transport = await make()
    await transport.connect()
    return { error: undefined, ms: Date.now() - began }
  } catch (error) {
    return { error, ms: Date.now() - began }
  } finally {
    await transport?.close({ drain: false }).catch(() => undefined)
  }
}
