import { isSwitchyardError } from '@switchyard/core'
import { describe, expect, it } from 'vitest'
import { rabbitmqTransport } from '../factory.js'
import { queueOptionsFor, type RabbitMqTransportOptions, resolveOptions } from '../options.js'
import { RabbitMqTransport } from '../rabbitmq-transport.js'

describe('resolveOptions', () => {
  it('reads the URL, lets explicit fields win, and keeps credentials out of the endpoint', () => {
    const o = resolveOptions({ url: 'amqp://u%40x:p%2Fw@broker:5673/my%2Fvhost', password: 'explicit' })
    expect(o).toMatchObject({
      protocol: 'amqp',
      host: 'broker',
      port: 5673,
      vhost: 'my/vhost',
      username: 'u@x',
    })
    expect(o.password).toBe('explicit')
    expect(o.endpoint).toBe('amqp://broker:5673/my%2Fvhost')
    expect(o.endpoint).not.toContain('explicit')
  })

  it("lists the URL's node first, then the other cluster nodes of `addresses`", () => {
    const o = resolveOptions({ url: 'amqp://broker-1:5673/', addresses: ['broker-2:5672', '[::1]:5674'] })
    expect(o.nodes).toEqual([
      { host: 'broker-1', port: 5673 },
      { host: 'broker-2', port: 5672 },
      { host: '::1', port: 5674 },
    ])
    expect(resolveOptions().nodes).toEqual([{ host: '127.0.0.1', port: 5672 }])
    let issues: readonly string[] = []
    try {
      resolveOptions({ addresses: ['broker-2'] })
    } catch (error) {
      expect(isSwitchyardError(error, 'ConfigError')).toBe(true)
      issues = (error as { issues: string[] }).issues
    }
    expect(issues.join('\n')).toMatch(/addresses.*host:port/)
  })

  it('applies the documented defaults', () => {
    const o = resolveOptions()
    expect(o).toMatchObject({
      host: '127.0.0.1',
      port: 5672,
      vhost: '/',
      prefix: 'switchyard',
      prefetch: 64,
      mandatory: false,
      deadLetterGroup: 'dlq',
      maxMessageBytes: 134_217_728,
      confirmWindows: 1,
    })
    expect(resolveOptions({ tls: true }).port).toBe(5671)
  })

  it('names every invalid field in one ConfigError', () => {
    let caught: unknown
    try {
      resolveOptions({
        url: 'http://x',
        prefetch: 0,
        prefix: 'a b',
        queueDefaults: { quorum: true, maxPriority: 5 },
      })
    } catch (error) {
      caught = error
    }
    expect(isSwitchyardError(caught, 'ConfigError')).toBe(true)
    const issues = (caught as { issues: string[] }).issues
    expect(issues).toHaveLength(4)
  })

  it('merges queue options: defaults, then the group, then ordered', () => {
    const o = resolveOptions({ queueDefaults: { maxPriority: 9 }, groups: { g: { maxLength: 10 } } })
    expect(queueOptionsFor(o, 'g', true)).toEqual({
      maxPriority: 9,
      maxLength: 10,
      singleActiveConsumer: true,
    })
    expect(queueOptionsFor(o, undefined, false)).toEqual({ maxPriority: 9 })
  })

  it('declares priority as a capability only when queues get a max priority', () => {
    expect(new RabbitMqTransport().capabilities.priority).toBe(false)
    expect(new RabbitMqTransport({ queueDefaults: { maxPriority: 9 } }).capabilities).toMatchObject({
      priority: true,
      orderedByKey: false,
      replay: false,
      persistent: true,
      patterns: true,
      durableDelay: true,
    })
  })

  it('refuses an unknown option with a suggestion, in the constructor as in the schema', async () => {
    let caught: unknown
    try {
      new RabbitMqTransport({ prefech: 5 } as unknown as RabbitMqTransportOptions)
    } catch (error) {
      caught = error
    }
    expect(isSwitchyardError(caught, 'ConfigError')).toBe(true)
    expect((caught as { context: { field: string } }).context.field).toBe('prefech')
    expect((caught as Error).message).toContain('did you mean "prefetch"?')
    const result = await rabbitmqTransport.optionsSchema['~standard'].validate({ heartbeat: 10 })
    expect(result.issues?.map((i) => [i.path, i.message])).toEqual([
      [['heartbeat'], 'is not an option; did you mean "heartbeatSeconds"?'],
    ])
  })

  it('checks limits: prefetch fits AMQP basic.qos, ports and message sizes are bounded', () => {
    const fields = (options: RabbitMqTransportOptions): string[] => {
      try {
        resolveOptions(options)
        return []
      } catch (error) {
        return (error as { issues: string[] }).issues.map((i) => i.split(':')[0] ?? '')
      }
    }
    expect(fields({ prefetch: 100_000 })).toEqual(['prefetch'])
    expect(fields({ port: 70_000, maxMessageBytes: 2 ** 30 })).toEqual(['port', 'maxMessageBytes'])
    expect(fields({ groups: { g: { overflow: 'drop-tail' as never } } })).toEqual(['groups.g.overflow'])
    expect(fields({ reconnect: { factor: 0.5 } })).toEqual(['reconnect.factor'])
    expect(fields({ confirmWindows: 0 })).toEqual(['confirmWindows'])
    expect(fields({ confirmWindows: 65 })).toEqual(['confirmWindows'])
    expect(fields({ confirmWindows: 1.5 })).toEqual(['confirmWindows'])
    expect(fields({ prefetch: 65_535, heartbeatSeconds: 0, deadLetterGroup: false })).toEqual([])
  })
})
