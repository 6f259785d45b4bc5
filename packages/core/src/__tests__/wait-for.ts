/** Test helper: polls a condition until it holds or a deadline passes (no fixed sleeps). */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
}

/** A unique topic name for one test. */
export function uniqueTopic(prefix = 'test'): string {
  return `${prefix}.${Math.random().toString(36).slice(2, 10)}`
}
