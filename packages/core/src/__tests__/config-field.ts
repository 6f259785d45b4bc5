import { expect } from 'vitest'
import { isSwitchyardError } from '../index.js'

/** Runs `make`, which must throw `ConfigError`, and returns the field it names. */
export function configErrorField(make: () => unknown): unknown {
  try {
    make()
  } catch (error) {
    expect(isSwitchyardError(error, 'ConfigError')).toBe(true)
    return (error as { context: { field: string } }).context.field
  }
  throw new Error('expected ConfigError')
}
