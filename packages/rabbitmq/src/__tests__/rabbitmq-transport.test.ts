/**
 * Behaviour without a broker: nothing listens on the port, so these run in the unit tier.
 */
import { createServer } from 'node:net'
import { createMessage, expectSwitchyardError } from '@switchyard/contract'
import type { TransportStatus } from '@switchyard/core'
import { lastValueFrom, toArray } from 'rxjs'
import { describe, expect, it } from 'vitest'
import { RabbitMqTransport } from '../rabbitmq-transport.js'

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

describe('RabbitMqTransport without a broker', () => {
  it('refuses a header table over 64 KiB per publish call, before connecting, so it fails alone', async () => {
    const port = await closedPort()
    const t = new RabbitMqTransport({ port }, { connectTimeoutMs: 300 })
    const big = createMessage('orders.created', { headers: { 'x-big': 'h'.repeat(70_000) } })
    const error = await expectSwitchyardError(t.publish([big]), 'MessageTooLargeError')
    expect(error.context).toMatchObject({ transport: 'rabbitmq', part: 'headers' })
    // Refused before the transport even tried to connect.
    const states: string[] = []
    t.status$.subscribe((s) => states.push(s.state)).unsubscribe()
    expect(states).toEqual(['idle'])
    await t.close({ drain: false })
  })

  it('rejects connect() with BrokerUnavailableError naming the endpoint, not the password', async () => {
    const port = await closedPort()
    const t = new RabbitMqTransport({ port, password: 'secret-password' }, { connectTimeoutMs: 300 })
    const error = await expectSwitchyardError(t.connect(), 'BrokerUnavailableError')
    expect(error.message).toContain(`127.0.0.1:${port}`)
    expect(error.message).not.toContain('secret-password')
    expect(error.retryable).toBe(true)
    await t.close()
  })

  it('rejects a publish with BrokerUnavailableError after the connect timeout, not publishWaitMs', async () => {
    const port = await closedPort()
    const t = new RabbitMqTransport({ port, publishWaitMs: 30_000, connectTimeoutMs: 600 })
    const started = Date.now()
    const error = await expectSwitchyardError(
      t.publish([createMessage('orders.created')]),
      'BrokerUnavailableError',
    )
    expect(Date.now() - started).toBeGreaterThanOrEqual(550)
    expect(Date.now() - started).toBeLessThan(5_000)
    expect(error.message).toContain(`127.0.0.1:${port}`)
    expect((await t.health()).status).not.toBe('up')
    await t.close()
  })

  it('ends status$ with closed after close(), and rejects later calls with TransportClosedError', async () => {
    const t = new RabbitMqTransport({ port: await closedPort() })
    const states = lastValueFrom(t.status$.pipe(toArray()))
    await t.close()
    expect((await states).map((s: TransportStatus) => s.state)).toEqual(['idle', 'closing', 'closed'])
    await expectSwitchyardError(t.publish([createMessage('a.b')]), 'TransportClosedError')
    await expectSwitchyardError(t.connect(), 'TransportClosedError')
  })
})
