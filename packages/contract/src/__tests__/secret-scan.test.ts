import { BrokerUnavailableError } from '@switchyard/core'
import { deriveTransport } from '@switchyard/core/spi'
import { describe, expect, it } from 'vitest'
import { SecretScan } from '../secret-scan.js'
import { ToyDriver } from './toy-driver.js'

describe('SecretScan', () => {
  it('captures status, health and the close of a transport it exercises', async () => {
    const scan = new SecretScan()
    await scan.exercise(deriveTransport(new ToyDriver()))
    expect(scan.count).toBeGreaterThanOrEqual(3)
    expect(scan.text).toContain('"status"')
  })

  it('finds a secret in an error message or its context, and in a log entry', () => {
    const scan = new SecretScan()
    scan.capture(
      new BrokerUnavailableError('x', 'host:1', 'refused', { context: { url: 'amqp://u:s3cr3t-ctx@h' } }),
    )
    scan.capture({ level: 'debug', message: 'login with s3cr3t-log' })
    expect(scan.text).toContain('s3cr3t-ctx')
    expect(scan.text).toContain('s3cr3t-log')
  })
})
