/**
 * `expectSwitchyardError`: assert that an operation fails with a given typed Switchyard error.
 *
 * Checks the error by its `name` brand (`isSwitchyardError`), so it works across duplicated
 * copies of `@switchyard/core`. It is an assertion helper for tests only.
 */
import { isSwitchyardError, type SwitchyardError, type SwitchyardErrorName } from '@switchyard/core'

/**
 * Runs `operation` (or awaits the promise) and returns the error it failed with, which must be a
 * Switchyard error named one of `names`. Throws an explanatory `Error` when it succeeds or fails
 * differently. A synchronous throw counts as a failure too.
 *
 * @example
 * await expectSwitchyardError(() => transport.publish([msg]), 'TransportClosedError')
 */
export async function expectSwitchyardError(
  operation: Promise<unknown> | (() => unknown),
  ...names: [SwitchyardErrorName, ...SwitchyardErrorName[]]
): Promise<SwitchyardError> {
  let outcome: { ok: true; value: unknown } | { ok: false; error: unknown }
  try {
    outcome = { ok: true, value: await (typeof operation === 'function' ? operation() : operation) }
  } catch (error) {
    outcome = { ok: false, error }
  }
  const wanted = names.join(' or ')
  if (outcome.ok) throw new Error(`expected ${wanted}, but the operation succeeded`)
  const { error } = outcome
  if (names.some((name) => isSwitchyardError(error, name))) return error as SwitchyardError
  const got = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
  throw new Error(`expected ${wanted}, got ${got}`, { cause: error })
}
