/** The schema-agnostic helpers behind every adapter's options schema and every transport document. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { ConfigSecret } from '../config-secret.js'
import { isSwitchyardError } from '../errors.js'
import {
  closestName,
  environmentReaders,
  plainTextSecretIssues,
  redactSecrets,
  revealSecrets,
  transportFactoryFor,
  unknownOptionIssues,
  validateOptions,
} from '../transport-factory.js'

const secret = <T>(value: T, sealed = false): ConfigSecret<T> => ({
  reveal: () => {
    if (sealed) throw new Error('sealed')
    return value
  },
  keyId: 'k1',
  sealed,
})

describe('closestName', () => {
  it('suggests a near typo or a longer name that starts with the given one, and nothing far away', () => {
    const known = ['prefetch', 'prefix', 'heartbeatSeconds', 'connectionTimeoutMs']
    expect(closestName('prefech', known)).toBe('prefetch')
    expect(closestName('heartbeat', known)).toBe('heartbeatSeconds')
    expect(closestName('connectionTimeout', known)).toBe('connectionTimeoutMs')
    expect(closestName('zzz', known)).toBeUndefined()
  })
})

describe('unknownOptionIssues', () => {
  it('names each unknown field, with a suggestion or the known list', () => {
    expect(unknownOptionIssues({ prefech: 1, prefetch: 2, qqq: 3 }, ['prefetch', 'port'])).toEqual([
      { path: ['prefech'], message: 'is not an option; did you mean "prefetch"?' },
      { path: ['qqq'], message: 'is not an option; remove it (known options: port, prefetch)' },
    ])
    expect(unknownOptionIssues('not an object', ['a'])).toEqual([])
  })
})

describe('validateOptions', () => {
  const schema = {
    '~standard': {
      version: 1 as const,
      vendor: 'test',
      validate: (value: unknown) =>
        typeof value === 'number'
          ? { value: value * 2 }
          : { issues: [{ message: 'must be a number', path: ['a', 0, { key: 'b' }] }] },
    },
  }

  it('returns the output, or a ConfigError whose field is the first issue path', () => {
    expect(validateOptions(schema, 2, 'test options')).toBe(4)
    let caught: unknown
    try {
      validateOptions(schema, 'x', 'test options', { transport: 'test' })
    } catch (error) {
      caught = error
    }
    expect(isSwitchyardError(caught, 'ConfigError')).toBe(true)
    expect(caught).toMatchObject({
      issues: ['a[0].b: must be a number'],
      context: { field: 'a[0].b', transport: 'test' },
    })
  })

  it('refuses an asynchronous schema, which a constructor cannot wait for', () => {
    const slow = { '~standard': { ...schema['~standard'], validate: async () => ({ value: 1 }) } }
    expect(() => validateOptions(slow, 1, 'test options')).toThrow(/synchronously/)
  })
})

describe('secrets', () => {
  const factory = { secretOptions: ['password', 'sasl.password', 'tls.key'] }

  it('wants every secret field stored as a secret, without repeating its value', () => {
    const issues = plainTextSecretIssues({ password: 'hunter2', sasl: { password: secret('p') } }, factory)
    expect(issues).toEqual([{ path: ['password'], message: expect.stringContaining('store.secret') }])
    expect(JSON.stringify(issues)).not.toContain('hunter2')
  })

  it('reveals secrets anywhere for the adapter, and redacts secret fields for logs', () => {
    const document = { url: 'amqp://h', password: secret('pw'), groups: [{ key: secret(1) }] }
    expect(revealSecrets(document)).toEqual({ url: 'amqp://h', password: 'pw', groups: [{ key: 1 }] })
    expect(redactSecrets({ password: 'pw', tls: { key: 'k', ca: 'c' }, user: 'u' }, factory)).toEqual({
      password: '[secret]',
      tls: { key: '[secret]', ca: 'c' },
      user: 'u',
    })
    expect(redactSecrets({ other: secret('x') }, factory)).toEqual({ other: '[secret]' })
    const original = { password: 'pw', tls: { key: 'k' } }
    redactSecrets(original, factory)
    expect(original).toEqual({ password: 'pw', tls: { key: 'k' } })
  })
})

describe('transportFactoryFor', () => {
  it('finds a kind, or names the registered kinds and the package to install', () => {
    const factories = [{ kind: 'memory' }, { kind: 'fake' }]
    expect(transportFactoryFor('fake', factories)).toBe(factories[1])
    expect(() => transportFactoryFor('kafka', factories)).toThrow(
      /registered: fake, memory.*@switchyard\/kafka/,
    )
    expect(() => transportFactoryFor(42, [])).toThrow(/no kind is registered/)
    expect(() => transportFactoryFor('carrier-pigeon', factories)).toThrow(
      /install the package that provides it/,
    )
    expect(() => transportFactoryFor('rabbitmq', factories)).toThrow(/transports: \[rabbitmqTransport\]/)
  })
})

describe('environmentReaders.tls', () => {
  const { tls } = environmentReaders

  it('reads the PEM files the variables name, or the flag without them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sy-tls-env-'))
    try {
      writeFileSync(join(dir, 'ca.pem'), 'CA PEM')
      writeFileSync(join(dir, 'key.pem'), 'KEY PEM')
      const read = tls({ X_TLS_CA_FILE: join(dir, 'ca.pem'), X_TLS_KEY_FILE: join(dir, 'key.pem') }, 'X')
      expect(read).toEqual({ ca: Buffer.from('CA PEM'), key: Buffer.from('KEY PEM') })
      expect(tls({ X_TLS: 'true' }, 'X')).toBe(true)
      expect(tls({}, 'X')).toBeUndefined()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('names the variable of a file it cannot read, and refuses files with X_TLS=false', () => {
    let caught: unknown
    try {
      tls({ X_TLS_CERT_FILE: '/nonexistent/client.pem' }, 'X')
    } catch (error) {
      caught = error
    }
    expect(isSwitchyardError(caught, 'ConfigError')).toBe(true)
    expect((caught as Error).message).toMatch(
      /X_TLS_CERT_FILE: cannot read \/nonexistent\/client.pem \(ENOENT\)/,
    )
    caught = undefined
    try {
      tls({ X_TLS: 'false', X_TLS_CA_FILE: '/nonexistent/ca.pem' }, 'X')
    } catch (error) {
      caught = error
    }
    expect(isSwitchyardError(caught, 'ConfigError')).toBe(true)
    expect((caught as Error).message).toMatch(/X_TLS: false contradicts X_TLS_CA_FILE/)
  })
})
