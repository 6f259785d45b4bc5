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

describe('SecretScan, deeper', () => {
  it('finds a secret in the cause of an error, which JSON leaves out', () => {
    const scan = new SecretScan()
    scan.capture(
      new BrokerUnavailableError('x', 'host:1', 'refused', { cause: new Error('auth s3cr3t-cause') }),
    )
    expect(scan.text).toContain('s3cr3t-cause')
  })

  it('records text, and what the process writes to stdout, stderr and console until stopped', () => {
    const scan = new SecretScan()
    scan.captureText('<p>page s3cr3t-page</p>')
    const stop = scan.captureOutput()
    try {
      process.stderr.write('')
      console.debug({ note: 's3cr3t-console' })
    } finally {
      stop()
    }
    console.debug('after-stop-marker')
    expect(scan.text).toContain('s3cr3t-page')
    expect(scan.text).toContain('s3cr3t-console')
    expect(scan.text).not.toContain('after-stop-marker')
  })
})

describe('SecretScan.leaks', () => {
  it('names each leaked secret and where it is, with the secret masked', () => {
    const scan = new SecretScan()
    scan.captureText('GET /status 200\n<td>p4ss-w0rd-1</td>')
    scan.capture({ fine: true })
    const leaks = scan.leaks({ 'etcd password': 'p4ss-w0rd-1', 'other key': 'not-there' })
    expect(leaks).toHaveLength(1)
    expect(leaks[0]).toContain('etcd password in capture #0 (GET /status 200)')
    expect(leaks[0]).toContain('<td><etcd password></td>')
    expect(leaks.join('\n')).not.toContain('p4ss-w0rd-1')
    expect(new SecretScan().leaks({ empty: '' })).toEqual([])
  })
})
