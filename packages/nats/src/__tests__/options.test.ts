import { isSwitchyardError } from '@switchyard/core'
import { describe, expect, it } from 'vitest'
import { natsTransport } from '../factory.js'
import { NatsTransport } from '../nats-transport.js'
import { type NatsTransportOptions, resolveOptions } from '../options.js'

describe('resolveOptions', () => {
  it('applies the documented defaults', () => {
    expect(resolveOptions()).toMatchObject({
      servers: ['127.0.0.1:4222'],
      prefix: 'switchyard',
      storage: 'file',
      replicas: 1,
      maxAckPending: 10_000,
      ackWaitMs: 30_000,
      prefetch: 64,
      connectTimeoutMs: 4_000,
      maxMessageBytes: 1_040_384,
      endpoint: 'nats://127.0.0.1:4222',
    })
  })

  it('keeps credentials out of the endpoint', () => {
    const o = resolveOptions({ servers: ['nats://a:4222', 'b:4223'], user: 'u', password: 'secret' })
    expect(o.endpoint).toBe('nats://a:4222,nats://b:4223')
    expect(o.endpoint).not.toContain('secret')
  })

  it('names every invalid field in one ConfigError, with a hint for a misspelt one', () => {
    let caught: unknown
    try {
      resolveOptions({
        servers: ['nats://u:p@host:4222'],
        prefix: 'a.b',
        prefech: 5,
      } as unknown as NatsTransportOptions)
    } catch (error) {
      caught = error
    }
    expect(isSwitchyardError(caught, 'ConfigError')).toBe(true)
    const text = (caught as { issues: string[] }).issues.join('\n')
    expect(text).toMatch(/servers/)
    expect(text).toMatch(/prefix/)
    expect(text).toMatch(/prefetch/)
  })
})

describe('natsTransport', () => {
  it('builds a transport from a document and reads the environment', () => {
    const t = natsTransport.create({ kind: 'nats', servers: ['127.0.0.1:4222'] })
    expect(t).toBeInstanceOf(NatsTransport)
    expect(t.capabilities).toMatchObject({
      persistent: true,
      replay: true,
      patterns: true,
      durableDelay: true,
    })
    expect(
      natsTransport.fromEnv?.({ SWITCHYARD_NATS_SERVERS: 'a:1,b:2', SWITCHYARD_NATS_PREFETCH: '8' }),
    ).toEqual({ servers: ['a:1', 'b:2'], prefetch: 8 })
    expect(natsTransport.fromEnv?.({ SWITCHYARD_NATS_NKEY_SEED: 'SUX' })).toEqual({ nkeySeed: 'SUX' })
    expect(natsTransport.secretOptions).toEqual([
      'password',
      'token',
      'nkeySeed',
      'tls.key',
      'tls.passphrase',
      'tls.pfx',
    ])
    expect(natsTransport.fromEnv?.({ SWITCHYARD_NATS_TLS: 'true' })).toEqual({ tls: true })
  })

  it('turns TLS on with true or TLS options, and off when left out or false', () => {
    expect(resolveOptions({}).tls).toBeUndefined()
    expect(resolveOptions({ tls: false }).tls).toBeUndefined()
    expect(resolveOptions({ tls: true }).tls).toEqual({})
    expect(resolveOptions({ tls: { ca: 'PEM', servername: 'nats.internal' } }).tls).toEqual({
      ca: 'PEM',
      servername: 'nats.internal',
    })
    let caught: unknown
    try {
      resolveOptions({ tls: 'yes' as unknown as boolean })
    } catch (error) {
      caught = error
    }
    expect(isSwitchyardError(caught, 'ConfigError')).toBe(true)
    expect((caught as { issues: string[] }).issues.join('\n')).toMatch(
      /tls: must be true, false or TLS options/,
    )
  })

  it('does not claim persistence or durable delays on memory storage', () => {
    const t = new NatsTransport({ storage: 'memory' })
    expect(t.capabilities.persistent).toBe(false)
    expect(t.capabilities.durableDelay).toBe(false)
  })
})
