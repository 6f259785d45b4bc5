/** `KafkaDriver.checkPublish` through the transport: refused per call, before any broker is reached. */
import { createMessage, expectSwitchyardError } from '@switchyard/contract'
import { describe, expect, it } from 'vitest'
import { KafkaTransport } from '../kafka-transport.js'

describe('kafka publish checks', () => {
  it('refuses a record whose key and id push it past the broker limit, alone and before connecting', async () => {
    const t = new KafkaTransport({ brokers: ['127.0.0.1:1'] })
    const limit = t.capabilities.maxMessageBytes as number
    // Payload within maxMessageBytes; the key adds what only the record framing counts.
    const record = createMessage('orders.created', {
      payload: new Uint8Array(limit - 10),
      key: 'k'.repeat(1_000),
    })
    const error = await expectSwitchyardError(t.publish([record]), 'MessageTooLargeError')
    expect(error.context).toMatchObject({ transport: 'kafka', part: 'record', topic: 'orders.created' })
    const states: string[] = []
    t.status$.subscribe((s) => states.push(s.state)).unsubscribe()
    expect(states).toEqual(['idle'])
    await t.close({ drain: false })
  })
})
