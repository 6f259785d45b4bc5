/** The transport document schema and `readTransportDocument`, on the memory store, with the adapters' factories. */
import { randomBytes } from 'node:crypto'
import { MemoryConfigBackend, MemoryConfigStore, type SecretKeyring } from '@switchyard/config'
import { type ConfigError, isSwitchyardError } from '@switchyard/core'
import { kafkaTransport } from '@switchyard/kafka'
import { memoryTransport } from '@switchyard/memory'
import { rabbitmqTransport } from '@switchyard/rabbitmq'
import { afterEach, describe, expect, it } from 'vitest'
import { readTransportDocument, transportDocumentSchema } from '../transport-document.js'

const factories = [memoryTransport, kafkaTransport, rabbitmqTransport]
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
  it('reads a kafka document with an encrypted SASL password, options named as the adapter names them', async () => {
    const s = store(keyring)
    await s.put('transport', {
      kind: 'kafka',
      brokers: ['127.0.0.1:9092'],
      clientId: 'billing',
      connectionTimeoutMs: 5_000,
      healthCheckIntervalMs: 2_000,
      sasl: { mechanism: 'scram-sha-512', username: 'app', password: s.secret('kafka-pass') },
    })
    const doc = await readTransportDocument(s, 'transport', { factories })
    expect(doc).toMatchObject({ kind: 'kafka', brokers: ['127.0.0.1:9092'], healthCheckIntervalMs: 2_000 })
    const sasl = doc.sasl as { password: { reveal(): string } }
    expect(sasl.password.reveal()).toBe('kafka-pass')
    expect(JSON.stringify(doc)).not.toContain('kafka-pass')
  })

  it('accepts every memory option, retention included', async () => {
    const s = store()
    await s.put('transport', { kind: 'memory', retention: 0, maxMessageBytes: 1024 })
    expect(await readTransportDocument(s, 'transport', { factories })).toEqual({
      kind: 'memory',
      retention: 0,
      maxMessageBytes: 1024,
    })
  })

  it('opens secrets with the keyring given to readTransportDocument, and names a secret it cannot open', async () => {
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
    const doc = await readTransportDocument(reader, 'transport', { factories, secrets: keyring })
    expect((doc.password as { reveal(): string }).reveal()).toBe('rabbit-pass')
    const sealed = await failure(readTransportDocument(reader, 'transport', { factories }))
    expect(sealed.context.field).toBe('password')
    expect(sealed.message).toContain('"k1"')
  })

  it('reports the failing field by path, never repeating a plain-text secret', async () => {
    const s = store(keyring)
    await s.put('t1', { kind: 'kafka', brokers: ['no-port'] })
    expect((await failure(readTransportDocument(s, 't1', { factories }))).context.field).toBe('brokers[0]')
    await s.put('t2', {
      kind: 'kafka',
      brokers: ['h:1'],
      sasl: { mechanism: 'plain', username: 'u', password: 'plain-text' },
    })
    const plain = await failure(readTransportDocument(s, 't2', { factories }))
    expect(plain.context.field).toBe('sasl.password')
    expect(plain.message).not.toContain('plain-text')
    await s.put('t4', { kind: 'rabbitmq', url: 'amqp://u:p@h/v' })
    expect((await failure(readTransportDocument(s, 't4', { factories }))).context.field).toBe('url')
    await s.put('t5', { kind: 'memory', extra: true })
    expect((await failure(readTransportDocument(s, 't5', { factories }))).message).toContain('extra')
    await s.put('t6', { kind: 'rabbitmq', heartbeat: 10 })
    const renamed = await failure(readTransportDocument(s, 't6', { factories }))
    expect(renamed.message).toContain('did you mean "heartbeatSeconds"?')
    expect((await failure(readTransportDocument(s, 'missing', { factories }))).context.key).toBe('missing')
  })

  it('names the registered kinds and the package to install for an unknown kind', async () => {
    const s = store()
    await s.put('t3', { kind: 'kafka', brokers: ['h:1'] })
    const error = await failure(readTransportDocument(s, 't3', { factories: [memoryTransport] }))
    expect(error.context.field).toBe('kind')
    expect(error.message).toContain('registered: memory')
    expect(error.message).toContain('@switchyard/kafka')
  })

  it('refuses an invalid document written through a section, before it is stored', async () => {
    const s = store(keyring)
    const section = s.section('transport', transportDocumentSchema(factories))
    await section.put({ kind: 'memory' })
    const error = await failure(section.put({ kind: 'kafka', brokers: [] }))
    expect(error.context.field).toBe('brokers')
    expect((await s.get('transport'))?.value).toEqual({ kind: 'memory' })
  })
})

describe('publish section (publish batching, the same for every kind)', () => {
  it('accepts the batching bounds under publish, for any kind, and keeps the document as written', async () => {
    const s = store()
    const publish = {
      maxBatchMessages: 500,
      maxBatchBytes: 262_144,
      lingerMs: 2,
      maxQueuedMessages: 10_000,
      whenFull: 'reject',
    }
    await s.put('r', { kind: 'rabbitmq', confirmWindows: 2, publish })
    expect(await readTransportDocument(s, 'r', { factories })).toEqual({
      kind: 'rabbitmq',
      confirmWindows: 2,
      publish,
    })
    await s.put('m', { kind: 'memory', publish: { lingerMs: 0 } })
    expect((await readTransportDocument(s, 'm', { factories })).publish).toEqual({ lingerMs: 0 })
  })

  it('names the bad batching field, suggests the closest name, and points a misplaced one into publish', async () => {
    const s = store()
    await s.put('bad', { kind: 'kafka', brokers: ['h:1'], publish: { lingerMs: -1, whenFull: 'drop' } })
    const bad = await failure(readTransportDocument(s, 'bad', { factories }))
    expect(bad.context.field).toBe('publish.lingerMs')
    expect(bad.message).toContain('publish.whenFull')
    await s.put('typo', { kind: 'memory', publish: { maxBatchMessage: 10 } })
    const typo = await failure(readTransportDocument(s, 'typo', { factories }))
    expect(typo.context.field).toBe('publish.maxBatchMessage')
    expect(typo.message).toContain('did you mean "maxBatchMessages"?')
    await s.put('flat', { kind: 'rabbitmq', lingerMs: 5 })
    const flat = await failure(readTransportDocument(s, 'flat', { factories }))
    expect(flat.context.field).toBe('lingerMs')
    expect(flat.message).toContain('move it into "publish"')
    await s.put('shape', { kind: 'memory', publish: 100 })
    expect((await failure(readTransportDocument(s, 'shape', { factories }))).context.field).toBe('publish')
  })

  it("each adapter's factory hands the publish section to its transport", () => {
    for (const factory of factories) {
      let error: unknown
      try {
        factory.create((factory.kind === 'kafka' ? { brokers: ['127.0.0.1:9092'] } : {}) as never, {
          maxBatchMessages: 0,
        })
      } catch (e) {
        error = e
      }
      expect(isSwitchyardError(error, 'ConfigError'), factory.kind).toBe(true)
      expect((error as ConfigError).context.field).toBe('maxBatchMessages')
    }
  })
})
