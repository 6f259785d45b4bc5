import {
  KafkaJSConnectionError,
  KafkaJSNumberOfRetriesExceeded,
  KafkaJSProtocolError,
  KafkaJSSASLAuthenticationError,
} from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { isConnectionFailure, mapKafkaError } from '../errors.js'
import { resolveKafkaOptions } from '../options.js'

// kafkajs' typings declare no constructor argument, but the class needs a message at run time.
const SaslError = KafkaJSSASLAuthenticationError as unknown as new (message: string) => Error
const site = { operation: 'publish', brokers: ['127.0.0.1:1'], topic: 't' }
const protocol = (type: string) =>
  new KafkaJSProtocolError(Object.assign(new Error(type), { type, code: 1, retriable: false }))

describe('mapKafkaError', () => {
  it('maps a refused connection, even wrapped in retries, to BrokerUnavailableError', () => {
    const refused = new KafkaJSConnectionError(
      Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
    )
    const wrapped = new KafkaJSNumberOfRetriesExceeded(refused, { retryCount: 3, retryTime: 100 })
    const mapped = mapKafkaError(wrapped, site)
    expect(mapped.name).toBe('BrokerUnavailableError')
    expect(mapped.retryable).toBe(true)
    expect(mapped.cause).toBe(wrapped)
    expect(isConnectionFailure(wrapped)).toBe(true)
  })

  it('maps SASL and authorization failures to AuthenticationError', () => {
    expect(mapKafkaError(new SaslError('bad password'), site).name).toBe('AuthenticationError')
    expect(mapKafkaError(protocol('TOPIC_AUTHORIZATION_FAILED'), site).name).toBe('AuthenticationError')
  })

  it('maps MESSAGE_TOO_LARGE to MessageTooLargeError and an unknown topic to UnknownTopicError', () => {
    expect(mapKafkaError(protocol('MESSAGE_TOO_LARGE'), site).name).toBe('MessageTooLargeError')
    expect(mapKafkaError(protocol('UNKNOWN_TOPIC_OR_PARTITION'), site).name).toBe('UnknownTopicError')
  })

  it('maps a session timeout the broker refuses to ConfigError naming the option and the broker limits', () => {
    const mapped = mapKafkaError(protocol('INVALID_SESSION_TIMEOUT'), { ...site, operation: 'consume' })
    expect(mapped.name).toBe('ConfigError')
    expect(mapped.retryable).toBe(false)
    expect(mapped.message).toContain('sessionTimeoutMs')
    expect(mapped.message).toContain('group.min.session.timeout.ms')
  })

  it('maps a refused topic creation to UnknownTopicError that keeps and quotes the kafkajs error', () => {
    const refused = protocol('INVALID_REPLICATION_FACTOR')
    const mapped = mapKafkaError(refused, { ...site, operation: 'create topic' })
    expect(mapped.name).toBe('UnknownTopicError')
    expect(mapped.cause).toBe(refused)
    expect(mapped.message).toContain('Kafka said: INVALID_REPLICATION_FACTOR')
    const unknown = mapKafkaError(protocol('UNKNOWN_TOPIC_OR_PARTITION'), site)
    expect(unknown.message).toContain('Kafka said: UNKNOWN_TOPIC_OR_PARTITION')
  })

  it('keeps a retriable failure to create a topic retryable (BrokerUnavailableError)', () => {
    const busy = new KafkaJSProtocolError(
      Object.assign(new Error('NOT_CONTROLLER'), { type: 'NOT_CONTROLLER', code: 41, retriable: true }),
    )
    expect(mapKafkaError(busy, { ...site, operation: 'create topic' }).name).toBe('BrokerUnavailableError')
  })

  it('maps other publish failures to PublishError and keeps Switchyard errors unchanged', () => {
    const mapped = mapKafkaError(protocol('CORRUPT_MESSAGE'), site)
    expect(mapped.name).toBe('PublishError')
    expect(mapKafkaError(mapped, site)).toBe(mapped)
  })
})

describe('resolveKafkaOptions', () => {
  it('applies defaults', () => {
    const o = resolveKafkaOptions({ brokers: ['127.0.0.1:9092'] })
    expect(o).toMatchObject({
      clientId: 'switchyard',
      partitions: 3,
      replicationFactor: 1,
      compression: 'none',
    })
    expect(o.retry.retries).toBe(10)
  })

  it('lists every invalid option in one ConfigError', () => {
    let error: unknown
    try {
      resolveKafkaOptions({
        brokers: ['nohost'],
        partitions: 0,
        heartbeatIntervalMs: 40_000,
        compression: 'lz4',
      })
    } catch (e) {
      error = e
    }
    expect(error).toMatchObject({ name: 'ConfigError' })
    expect((error as { issues: string[] }).issues).toHaveLength(4)
  })
})

describe('isConnectionFailure', () => {
  it("recognises kafkajs' plain 'Broker not connected' error after a broker restart", () => {
    expect(mapKafkaError(new Error('Broker not connected'), site).name).toBe('BrokerUnavailableError')
    expect(isConnectionFailure(new Error('something else'))).toBe(false)
  })
})
