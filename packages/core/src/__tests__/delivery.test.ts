import { describe, expect, it } from 'vitest'
import { createDelivery, isSwitchyardError } from '../spi.js'

const message = {
  id: '1',
  topic: 't',
  key: undefined,
  headers: {},
  payload: new Uint8Array(),
  timestamp: 0,
  attempt: 1,
}

describe('createDelivery', () => {
  it('settles once: a second ack or nack is a no-op', async () => {
    const calls: string[] = []
    const d = createDelivery(message, {
      transport: 'test',
      ack: async () => void calls.push('ack'),
      nack: async (o) => void calls.push(`nack:${o.requeue}`),
      isClosed: () => false,
      isDetached: () => false,
    })
    await d.ack()
    await d.ack()
    await d.nack()
    expect(calls).toEqual(['ack'])
    expect(d.settled).toBe(true)
  })

  it('rejects settling after close with TransportClosedError', async () => {
    const d = createDelivery(message, {
      transport: 'test',
      ack: async () => {},
      nack: async () => {},
      isClosed: () => true,
      isDetached: () => false,
    })
    const error = await d.ack().catch((e: unknown) => e)
    expect(isSwitchyardError(error, 'TransportClosedError')).toBe(true)
  })

  it('rejects a negative delay with ConfigError', async () => {
    const d = createDelivery(message, {
      transport: 'test',
      ack: async () => {},
      nack: async () => {},
      isClosed: () => false,
      isDetached: () => false,
    })
    await expect(d.nack({ delayMs: -1 })).rejects.toMatchObject({ name: 'ConfigError' })
    expect(d.settled).toBe(false)
  })
})
