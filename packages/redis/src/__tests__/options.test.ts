import { expectSwitchyardError } from '@switchyard/contract'
import { describe, expect, it } from 'vitest'
import { redisTransport } from '../factory.js'
import { endpointOf, resolveRedisOptions } from '../options.js'

describe('resolveRedisOptions', () => {
  it('applies the defaults', () => {
    expect(resolveRedisOptions({})).toMatchObject({
      url: 'redis://127.0.0.1:6379',
      prefix: 'switchyard:',
      pollMs: 1_000,
      claimIdleMs: 30_000,
      maxMessageBytes: 1024 * 1024,
      retention: undefined,
      reconnect: { initialDelayMs: 100, maxDelayMs: 5_000, factor: 2 },
    })
  })

  it('refuses an unknown field with the closest name, and a bad url', async () => {
    const error = await expectSwitchyardError(
      () => resolveRedisOptions({ claimIdle: 5 } as never),
      'ConfigError',
    )
    expect(error.message).toMatch(/claimIdleMs/)
    await expectSwitchyardError(() => resolveRedisOptions({ url: 'http://x' }), 'ConfigError')
  })

  it('takes exactly one of maxLength and maxAgeMs as retention', async () => {
    expect(resolveRedisOptions({ retention: { maxLength: 10 } }).retention).toEqual({ maxLength: 10 })
    const both = await expectSwitchyardError(
      () => resolveRedisOptions({ retention: { maxLength: 10, maxAgeMs: 1000 } }),
      'ConfigError',
    )
    expect(both.message).toMatch(/exactly one of maxLength and maxAgeMs/)
    await expectSwitchyardError(() => resolveRedisOptions({ retention: {} }), 'ConfigError')
  })
})

describe('TLS options', () => {
  it('turns TLS on by a rediss:// URL or by tls, and says so in the URL the client gets', () => {
    expect(resolveRedisOptions({ url: 'redis://h:6379' }).tls).toBeUndefined()
    expect(resolveRedisOptions({ url: 'rediss://h:6380' })).toMatchObject({ url: 'rediss://h:6380', tls: {} })
    expect(resolveRedisOptions({ url: 'redis://h:6380', tls: true })).toMatchObject({
      url: 'rediss://h:6380',
      tls: {},
    })
    expect(resolveRedisOptions({ url: 'redis://h:6380', tls: { ca: 'PEM' } })).toMatchObject({
      url: 'rediss://h:6380',
      tls: { ca: 'PEM' },
    })
  })

  it('refuses tls: false with a rediss:// URL, and a tls that is not options', async () => {
    const contradiction = await expectSwitchyardError(
      () => resolveRedisOptions({ url: 'rediss://h:6380', tls: false }),
      'ConfigError',
    )
    expect(contradiction.message).toMatch(/tls: false contradicts the rediss:\/\/ URL/)
    const wrong = await expectSwitchyardError(
      () => resolveRedisOptions({ tls: 'yes' as unknown as boolean }),
      'ConfigError',
    )
    expect(wrong.message).toMatch(/tls: must be true, false or TLS options/)
  })
})

describe('redisTransport', () => {
  it('reads SWITCHYARD_REDIS_* and marks the password as a secret', () => {
    expect(
      redisTransport.fromEnv?.({ SWITCHYARD_REDIS_URL: 'redis://h:1', SWITCHYARD_REDIS_PREFIX: 'a:' }),
    ).toEqual({
      url: 'redis://h:1',
      prefix: 'a:',
    })
    expect(redisTransport.secretOptions).toEqual(['password', 'tls.key', 'tls.passphrase', 'tls.pfx'])
    expect(redisTransport.fromEnv?.({ SWITCHYARD_REDIS_TLS: 'true' })).toMatchObject({ tls: true })
  })

  it('shows the endpoint without credentials', () => {
    expect(endpointOf('redis://user:secret@cache.internal:6380/2')).toBe('redis://cache.internal:6380/2')
  })
})
