/** `memoryOptionsSchema` through the constructor: defaults, limits, unknown fields with a suggestion. */
import { type ConfigError, isSwitchyardError } from '@switchyard/core'
import { describe, expect, it } from 'vitest'
import { memoryTransport } from '../factory.js'
import { MemoryTransport } from '../memory-transport.js'
import { type MemoryTransportOptions, resolveOptions } from '../options.js'

const configError = (run: () => unknown): ConfigError => {
  try {
    run()
  } catch (error) {
    if (isSwitchyardError(error, 'ConfigError')) return error as ConfigError
    throw error
  }
  throw new Error('expected a ConfigError')
}

describe('memory options schema', () => {
  it('applies the documented defaults and accepts a whole document', () => {
    expect(resolveOptions(undefined)).toEqual({ retention: 1_000, maxMessageBytes: 1_048_576 })
    expect(resolveOptions({ kind: 'memory', retention: 0, maxMessageBytes: Infinity })).toEqual({
      retention: 0,
      maxMessageBytes: Infinity,
    })
  })

  it('refuses an unknown option naming it and the closest known one', () => {
    const error = configError(() => new MemoryTransport({ retension: 5 } as MemoryTransportOptions))
    expect(error.context.field).toBe('retension')
    expect(error.message).toContain('did you mean "retention"?')
  })

  it('refuses out-of-range values naming the field', () => {
    expect(configError(() => resolveOptions({ retention: -1 })).context.field).toBe('retention')
    expect(configError(() => resolveOptions({ maxMessageBytes: 0 })).context.field).toBe('maxMessageBytes')
    expect(configError(() => resolveOptions({ kind: 'kafka' } as never)).context.field).toBe('kind')
  })

  it('is the schema of the factory, and the factory builds the transport', async () => {
    const result = await memoryTransport.optionsSchema['~standard'].validate({ retention: 2.5 })
    expect(result.issues?.[0]?.path).toEqual(['retention'])
    const transport = memoryTransport.create({ retention: 0 })
    expect(transport.capabilities.replay).toBe(false)
    await transport.close()
  })
})
