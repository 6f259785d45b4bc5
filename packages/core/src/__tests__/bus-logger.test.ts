/**
 * The Bus's log lines (`BusOptions.logger`): which events become lines, their fields, the rate
 * limit, redaction of credentials, the default logger's levels, and a bad logger's error. Runs on
 * the memory transport (pure logic, no broker) and on a status stream driven by hand.
 */
import { MemoryTransport } from '@switchyard/memory'
import { BehaviorSubject } from 'rxjs'
import { afterEach, describe, expect, it } from 'vitest'
import { BusLog } from '../bus-log.js'
import {
  BrokerUnavailableError,
  Bus,
  ConfigError,
  consoleLogger,
  defaultLogger,
  type LogFields,
  type Logger,
  redact,
  silentLogger,
  type Transport,
  type TransportStatus,
} from '../index.js'
import { uniqueTopic, waitFor } from './wait-for.js'

interface Line {
  readonly level: string
  readonly fields: LogFields
  readonly message: string
}

function recorder(): { logger: Logger; lines: Line[] } {
  const lines: Line[] = []
  const at =
    (level: string) =>
    (fields: LogFields, message: string): void => {
      lines.push({ level, fields, message })
    }
  return { logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, lines }
}

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()))
})

function setup(logger: Logger, stuckAfterMs?: number) {
  const transport = new MemoryTransport()
  const bus = new Bus(transport, {
    logger,
    closeTransport: true,
    ...(stuckAfterMs === undefined ? {} : { stuckAfterMs }),
  })
  cleanups.push(() => bus.close({ timeoutMs: 100 }))
  return { transport, bus }
}

describe('Bus logger', () => {
  it('logs a dead letter once, without the payload, and holds back repeats within the window', async () => {
    const { logger, lines } = recorder()
    const { bus, transport } = setup(logger)
    const topic = uniqueTopic()
    await transport.provision(`${topic}.dlq`, { groups: ['audit'] })
    const sub = bus.handle(topic, { group: 'mail', retry: { attempts: 1 } }, () => {
      throw new Error('smtp refused amqp://mailer:hunter2@10.0.0.1')
    })
    await sub.ready
    for (let i = 0; i < 3; i++) await bus.publish(topic, { secretPayload: 'do-not-log' })
    const dlq: string[] = []
    const audit = bus.handle(`${topic}.dlq`, { group: 'audit' }, (m) => {
      dlq.push(m.id)
    })
    await waitFor(() => dlq.length === 3, 'three dead letters')
    await audit.stop()
    const deadLettered = lines.filter((l) => l.fields.event === 'dead-lettered')
    expect(deadLettered).toHaveLength(1)
    const [line] = deadLettered
    expect(line?.level).toBe('warn')
    expect(line?.message).toBe('message dead-lettered')
    expect(line?.fields).toMatchObject({
      topic,
      group: 'mail',
      deadLetterTopic: `${topic}.dlq`,
      errorType: 'Error',
      error: 'smtp refused amqp://***@10.0.0.1',
    })
    expect(typeof line?.fields.messageId).toBe('string')
    const text = JSON.stringify(lines)
    expect(text).not.toContain('do-not-log')
    expect(text).not.toContain('hunter2')
  })

  it('reports a stuck handler and a drain that timed out', async () => {
    const { logger, lines } = recorder()
    const { bus } = setup(logger, 30)
    const topic = uniqueTopic()
    let release: () => void = () => {}
    const blocked = new Promise<void>((resolve) => {
      release = resolve
    })
    let started = false
    const sub = bus.handle(topic, { group: 'slow' }, async () => {
      started = true
      await blocked
    })
    await sub.ready
    await bus.publish(topic, { n: 1 })
    await waitFor(() => lines.some((l) => l.fields.event === 'handler-stuck'), 'a handler-stuck line')
    expect(started).toBe(true)
    const stuck = lines.find((l) => l.fields.event === 'handler-stuck')
    expect(stuck?.level).toBe('warn')
    expect(stuck?.fields).toMatchObject({ topic, group: 'slow', attempt: 1 })
    expect(stuck?.fields.elapsedMs as number).toBeGreaterThanOrEqual(30)
    await sub.stop({ timeoutMs: 50 })
    release()
    const drain = lines.find((l) => l.fields.event === 'drain-timed-out')
    expect(drain?.level).toBe('warn')
    expect(drain?.fields).toMatchObject({ topic, group: 'slow', timeoutMs: 50, running: 1 })
  })

  it('logs connection loss and recovery at warn and rebalances at info, with credentials redacted', () => {
    const { logger, lines } = recorder()
    const status = new BehaviorSubject<TransportStatus>({ state: 'connected', since: 1_000 })
    const transport = { kind: 'fake', status$: status } as unknown as Transport
    const log = new BusLog(logger)
    log.watch(transport)
    status.next({
      state: 'reconnecting',
      since: 2_000,
      error: new BrokerUnavailableError('fake', 'amqp://admin:s3cret@127.0.0.1:5672', 'connection refused'),
    })
    status.next({ state: 'connected', since: 5_500 })
    status.next({ state: 'rebalancing', since: 6_000 })
    status.next({ state: 'connected', since: 6_250 })
    log.stop()
    status.next({ state: 'reconnecting', since: 7_000 })
    expect(lines.map((l) => [l.level, l.fields.event])).toEqual([
      ['warn', 'connection-lost'],
      ['warn', 'connection-recovered'],
      ['info', 'rebalancing'],
      ['info', 'rebalanced'],
    ])
    expect(lines[0]?.fields.transport).toBe('fake')
    expect(lines[0]?.fields.error).toContain('amqp://***@127.0.0.1:5672')
    expect(JSON.stringify(lines)).not.toContain('s3cret')
    expect(lines[1]?.fields.downMs).toBe(3_500)
    expect(lines[3]?.fields.tookMs).toBe(250)
  })

  it('rate-limits per event and subscription and reports how many lines it held back', () => {
    const { logger, lines } = recorder()
    let now = 0
    const log = new BusLog(logger, { windowMs: 1_000, now: () => now })
    const restarting = (topic: string) =>
      log.event({
        type: 'subscription-restarting',
        topic,
        group: 'g',
        error: new Error('boom'),
        restart: 1,
        delayMs: 200,
      })
    restarting('a')
    restarting('a')
    restarting('b')
    now = 500
    restarting('a')
    now = 1_000
    restarting('a')
    expect(lines.map((l) => [l.fields.topic, l.fields.suppressed])).toEqual([
      ['a', undefined],
      ['b', undefined],
      ['a', 2],
    ])
    // Per-message events are never logged.
    log.event({ type: 'published', topic: 'a', count: 1, durationMs: 1 })
    expect(lines).toHaveLength(3)
  })

  it('defaultLogger: silent under a test runner, warn in apps, SWITCHYARD_LOG_LEVEL wins', () => {
    expect(defaultLogger({ VITEST: 'true' })).toBe(silentLogger)
    expect(defaultLogger({ NODE_ENV: 'test' })).toBe(silentLogger)
    expect(defaultLogger({ SWITCHYARD_LOG_LEVEL: 'silent' })).toBe(silentLogger)
    expect(defaultLogger({})).not.toBe(silentLogger)
    expect(defaultLogger({ VITEST: 'true', SWITCHYARD_LOG_LEVEL: 'info' })).not.toBe(silentLogger)
  })

  it('consoleLogger writes one JSON line per call at or above its level', () => {
    const written: string[] = []
    const logger = consoleLogger({ level: 'warn', write: (line) => written.push(line) })
    logger.info({ event: 'x' }, 'hidden')
    logger.warn({ event: 'y', topic: 't' }, 'shown')
    expect(written).toHaveLength(1)
    expect(written[0]?.endsWith('\n')).toBe(true)
    expect(JSON.parse(written[0] as string)).toMatchObject({
      level: 'warn',
      msg: 'shown',
      event: 'y',
      topic: 't',
    })
  })

  it('redact removes URL user-info and password-like pairs', () => {
    expect(redact('kafka://u:p@h:9092 and password=abc; token: "xyz"')).toBe(
      'kafka://***@h:9092 and password=***; token: "***"',
    )
  })

  it('rejects a logger without the four methods with a ConfigError naming the field', () => {
    const transport = new MemoryTransport()
    cleanups.push(() => transport.close())
    let thrown: unknown
    try {
      new Bus(transport, { logger: { warn: () => {} } as unknown as Logger })
    } catch (error) {
      thrown = error
    }
    expect(thrown).toBeInstanceOf(ConfigError)
    expect((thrown as ConfigError).message).toContain('logger')
    expect((thrown as ConfigError).context.field).toBe('logger')
  })
})
