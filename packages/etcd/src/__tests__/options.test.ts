/** Options `EtcdConfigStore` refuses at construction, before etcd3 would fail later with an untyped error. */
import { isSwitchyardError } from '@switchyard/core'
import { describe, expect, it } from 'vitest'
import { EtcdConfigStore, type EtcdConfigStoreOptions } from '../etcd-config-store.js'

const refusal = (options: EtcdConfigStoreOptions) => {
  try {
    new EtcdConfigStore(options)
  } catch (error) {
    if (isSwitchyardError(error, 'ConfigError')) return error
    throw error
  }
  throw new Error('expected a ConfigError')
}

describe('EtcdConfigStore options', () => {
  it('refuses no endpoints with a ConfigError that shows one', () => {
    const error = refusal({ endpoints: [] })
    expect(error.context.field).toBe('endpoints')
    expect(error.message).toContain('http://127.0.0.1:2379')
  })

  it('refuses an endpoint that is not an http(s) URL', () => {
    expect(refusal({ endpoints: ['127.0.0.1:2379'] }).context.field).toBe('endpoints[0]')
  })

  it('refuses a request limit that is not a positive whole number', () => {
    expect(refusal({ endpoints: ['http://127.0.0.1:2379'], maxRequestBytes: 0 }).context.field).toBe(
      'maxRequestBytes',
    )
  })
})
