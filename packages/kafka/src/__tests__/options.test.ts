/** `kafkaOptionsSchema` through `resolveKafkaOptions` and the constructor (no broker is reached). */
import { expectSwitchyardError } from '@switchyard/contract'
import type { ConfigError } from '@switchyard/core'
import { describe, expect, it } from 'vitest'
import { kafkaTransport } from '../factory.js'
import { KafkaTransport } from '../kafka-transport.js'
import { type KafkaTransportOptions, resolveKafkaOptions } from '../options.js'

const brokers = ['127.0.0.1:9092']
/** The `ConfigError` that `run` throws (the test fails if it throws nothing or something else). */
const configError = async (run: () => unknown): Promise<ConfigError> =>
  (await expectSwitchyardError(run, 'ConfigError')) as ConfigError

describe('kafka options schema', () => {
  it('applies defaults, including inside retry, and keeps given values', () => {
    const o = resolveKafkaOptions({
      kind: 'kafka',
      brokers,
      retry: { retries: 2 },
      healthCheckIntervalMs: 500,
    })
    expect(o).toMatchObject({
      clientId: 'switchyard',
      connectionTimeoutMs: 3_000,
      requestTimeoutMs: 30_000,
      sessionTimeoutMs: 6_000,
      commitIntervalMs: 250,
      healthCheckIntervalMs: 500,
      logLevel: 'nothing',
      createTopics: true,
    })
    expect(o.retry).toEqual({ retries: 2, initialRetryTime: 300, maxRetryTime: 10_000 })
    expect('kind' in o).toBe(false)
  })

  it('refuses unknown options at every level with a suggestion', async () => {
    const top = await configError(
      () => new KafkaTransport({ brokers, connectionTimeout: 5_000 } as unknown as KafkaTransportOptions),
    )
    expect(top.context).toMatchObject({ field: 'connectionTimeout', transport: 'kafka' })
    expect(top.message).toContain('did you mean "connectionTimeoutMs"?')
    const nested = await configError(() =>
      resolveKafkaOptions({ brokers, sasl: { mechanism: 'plain', username: 'u', pasword: 'p' } } as never),
    )
    expect(nested.issues.join('\n')).toMatch(/sasl\.pasword: is not an option; did you mean "password"\?/)
  })

  it('refuses out-of-range values and broken cross-field rules, listing all', async () => {
    const error = await configError(() =>
      resolveKafkaOptions({
        brokers: ['nohost'],
        partitions: 0,
        heartbeatIntervalMs: 40_000,
        compression: 'lz4',
      }),
    )
    expect(error.issues.map((i) => i.split(':')[0])).toEqual([
      'brokers[0]',
      'partitions',
      'heartbeatIntervalMs',
      'compressionCodecs.lz4',
    ])
    expect((await configError(() => resolveKafkaOptions({ brokers: [] }))).context.field).toBe('brokers')
  })

  it('names credentials as secret options and reads the environment', () => {
    expect(kafkaTransport.secretOptions).toContain('sasl.password')
    expect(
      kafkaTransport.fromEnv?.({ SWITCHYARD_KAFKA_BROKERS: 'a:1, b:2', SWITCHYARD_KAFKA_PARTITIONS: '6' }),
    ).toEqual({ brokers: ['a:1', 'b:2'], partitions: 6 })
  })
})
