/** The transport document schema and `readTransportDocument`, on the memory store. */
import { randomBytes } from 'node:crypto'
import { MemoryConfigBackend, MemoryConfigStore, type SecretKeyring } from '@switchyard/config'
import { type ConfigError, isSwitchyardError } from '@switchyard/core'
import { afterEach, describe, expect, it } from 'vitest'
import { readTransportDocument, transportDocumentSchema } from '../transport-document.js'

const keyring: SecretKeyring = { current: { id: 'k1', key: randomBytes(32) } }
const backends: MemoryConfigBackend[] = []
const store = (secrets?: SecretKeyring) => {
  const backend = new MemoryConfigBackend()
  backends.push(backend)
  return new MemoryConfigStore({ backend, ...(secrets ? { secrets } : {}) })
}
afterEach(() => {
  for (const b of backends.splice(0)) b.dispose()
})

const failure = async (p: Promise<unknown>): Promise<ConfigError> => {
  try {
    await p
  } catch (error) {
    if (isSwitchyardError(error, 'ConfigError')) return error as ConfigError
    throw error
  }
  throw new Error('expected a ConfigError')
}

describe('transport document', () => {
  it('reads a kafka document with an encrypted SASL password', async () => {
    const s = store(keyring)
    await s.put('transport', {
      kind: 'kafka',
      brokers: ['127.0.0.1:9092'],
      clientId: 'billing',
      sasl: { mechanism: 'scram-sha-512', username: 'app', password: s.secret('kafka-pass') },
    })
    const doc = await readTransportDocument(s, 'transport')
    if (doc.kind !== 'kafka') throw new Error(`wrong kind ${doc.kind}`)
    expect(doc.brokers).toEqual(['127.0.0.1:9092'])
    expect(doc.sasl?.password.reveal()).toBe('kafka-pass')
    expect(JSON.stringify(doc)).not.toContain('kafka-pass')
  })

  it('opens secrets with the keyring given to readTransportDocument', async () => {
    const writer = store(keyring)
    await writer.put('transport', {
      kind: 'rabbitmq',
      host: '127.0.0.1',
      port: 5672,
      vhost: 'v',
      username: 'u',
      password: writer.secret('rabbit-pass'),
      prefetch: 10,
    })
    const reader = new MemoryConfigStore({ backend: writer.backend })
    const doc = await readTransportDocument(reader, 'transport', { secrets: keyring })
    expect(doc.kind === 'rabbitmq' && doc.password?.reveal()).toBe('rabbit-pass')
  })

  it('reports the failing field by path', async () => {
    const s = store(keyring)
    await s.put('t1', { kind: 'kafka', brokers: ['no-port'] })
    expect((await failure(readTransportDocument(s, 't1'))).context.field).toBe('brokers[0]')
    await s.put('t2', {
      kind: 'kafka',
      brokers: ['h:1'],
      sasl: { mechanism: 'plain', username: 'u', password: 'plain-text' },
    })
    const plain = await failure(readTransportDocument(s, 't2'))
    expect(plain.context.field).toBe('sasl.password')
    expect(plain.message).not.toContain('plain-text')
    await s.put('t3', { kind: 'nats' })
    expect((await failure(readTransportDocument(s, 't3'))).context.field).toBe('kind')
    await s.put('t4', { kind: 'rabbitmq' })
    expect((await failure(readTransportDocument(s, 't4'))).context.field).toBe('url')
    await s.put('t5', { kind: 'memory', extra: true })
    expect((await failure(readTransportDocument(s, 't5'))).message).toContain('extra')
    expect((await failure(readTransportDocument(s, 'missing'))).context.key).toBe('missing')
  })

  it('refuses an invalid document written through a section, before it is stored', async () => {
    const s = store(keyring)
    const section = s.section('transport', transportDocumentSchema)
    await section.put({ kind: 'memory' })
    const error = await failure(section.put({ kind: 'kafka', brokers: [] } as never))
    expect(error.context.field).toBe('brokers')
    expect((await s.get('transport'))?.value).toEqual({ kind: 'memory' })
  })
})
