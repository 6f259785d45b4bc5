/** Choosing the client: the `client` and `groupProtocol` options, and the Node check of `@platformatic/kafka`. */
import { expectSwitchyardError } from '@switchyard/contract'
import type { ConfigError } from '@switchyard/core'
import { describe, expect, it } from 'vitest'
import { KafkaTransport } from '../kafka-transport.js'
import { resolveKafkaOptions } from '../options.js'
import { loadPlatformatic, supportsPlatformatic } from '../platformatic-client.js'

const brokers = ['127.0.0.1:9092']
/** The `ConfigError` that `run` throws (the test fails if it throws nothing or something else). */
const configError = async (run: () => unknown): Promise<ConfigError> =>
  (await expectSwitchyardError(run, 'ConfigError')) as ConfigError

describe('the Kafka client option', () => {
  it('defaults to kafkajs and the classic group protocol', () => {
    expect(resolveKafkaOptions({ brokers })).toMatchObject({ client: 'kafkajs', groupProtocol: 'classic' })
  })

  it('refuses an unknown client and KIP-848 on kafkajs, naming the fields', async () => {
    const unknown = await configError(() =>
      resolveKafkaOptions({ brokers, client: 'librdkafka' as 'kafkajs' }),
    )
    expect(unknown.message).toContain('client')
    expect(unknown.message).toContain('kafkajs, platformatic')
    const kip848 = await configError(() => resolveKafkaOptions({ brokers, groupProtocol: 'consumer' }))
    expect(kip848.message).toContain('groupProtocol')
    expect(kip848.message).toContain("needs client 'platformatic'")
    expect(resolveKafkaOptions({ brokers, client: 'platformatic', groupProtocol: 'consumer' })).toMatchObject(
      {
        client: 'platformatic',
        groupProtocol: 'consumer',
      },
    )
  })

  it('knows which Node lines @platformatic/kafka runs on (engines >= 22.22 / >= 24.6)', () => {
    expect(['20.20.2', '22.21.1', '24.5.0', 'v18.0.0'].map(supportsPlatformatic)).toEqual([
      false,
      false,
      false,
      false,
    ])
    expect(
      ['22.22.0', 'v22.23.5', '23.1.0', '24.6.0', '24.22.3', '26.0.0'].map(supportsPlatformatic),
    ).toEqual([true, true, true, true, true, true])
  })

  it('refuses client platformatic on an older Node with a ConfigError that names the Node needed', async () => {
    const error = await configError(() => loadPlatformatic('20.20.2'))
    expect(error.message).toContain('Node >= 22.22')
    expect(error.message).toContain('>= 24.6')
    expect(error.message).toContain('this is Node 20.20.2')
    expect(error.message).toContain("client: 'kafkajs'")
    expect(error.context).toMatchObject({ field: 'client' })
  })

  it('on this Node, constructs the transport where the client runs and refuses it where it does not', async () => {
    if (supportsPlatformatic(process.versions.node)) {
      const t = new KafkaTransport({ brokers, client: 'platformatic' })
      expect(t.capabilities.orderedByKey).toBe(true)
      await t.close({ drain: false })
    } else {
      const error = await configError(() => new KafkaTransport({ brokers, client: 'platformatic' }))
      expect(error.message).toContain(`this is Node ${process.versions.node}`)
    }
  })
})
