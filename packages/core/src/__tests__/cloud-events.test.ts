/**
 * CloudEvents edges as pure logic: binary data in structured mode (`data_base64`), JSON data
 * inline, messages that are not events, a custom header prefix (the AMQP binding's
 * `cloudEvents:`), and no second wrapping of a message that already is an event.
 */
import { describe, expect, it } from 'vitest'
import {
  cloudEvents,
  cloudEventsCodec,
  isSwitchyardError,
  jsonCodec,
  type Message,
  type OutgoingMessage,
  readCloudEvent,
} from '../index.js'

const base: OutgoingMessage = {
  topic: 't',
  id: 'id-1',
  timestamp: Date.parse('2026-01-02T03:04:05.678Z'),
  headers: { 'content-type': 'application/octet-stream' },
  payload: new Uint8Array([0, 1, 2, 255]),
}

async function wrap(
  options: Parameters<typeof cloudEvents>[0],
  message: OutgoingMessage,
): Promise<OutgoingMessage> {
  let out: OutgoingMessage | undefined
  await cloudEvents(options)(async (messages) => {
    out = messages[0]
  })([message])
  if (out === undefined) throw new Error('nothing published')
  return out
}

const delivered = (m: OutgoingMessage): Message<Uint8Array> => ({ ...m, key: m.key, attempt: 1 })

describe('CloudEvents', () => {
  it('structured mode puts binary data in data_base64 and reads the same bytes back', async () => {
    const out = await wrap({ mode: 'structured', source: '/s' }, base)
    const json = JSON.parse(new TextDecoder().decode(out.payload))
    expect(json).toMatchObject({ data_base64: 'AAEC/w==', type: 't', time: '2026-01-02T03:04:05.678Z' })
    expect([...readCloudEvent(delivered(out)).data]).toEqual([0, 1, 2, 255])
  })

  it('structured mode keeps JSON data inline; the codec decodes it', async () => {
    const payload = new TextEncoder().encode('{"a":[1,2]}')
    const out = await wrap(
      { mode: 'structured', source: '/s' },
      { ...base, payload, headers: { 'content-type': 'application/json' } },
    )
    expect(JSON.parse(new TextDecoder().decode(out.payload)).data).toEqual({ a: [1, 2] })
    const m = delivered(out)
    expect(await cloudEventsCodec(jsonCodec).decode(m.payload, m)).toEqual({ a: [1, 2] })
  })

  it('binary mode with the AMQP prefix writes cloudEvents: headers, and reads them with the same prefix', async () => {
    const out = await wrap({ mode: 'binary', source: '/s', type: 'x', headerPrefix: 'cloudEvents:' }, base)
    expect(out.headers).toMatchObject({
      'cloudEvents:id': 'id-1',
      'cloudEvents:specversion': '1.0',
      'cloudEvents:type': 'x',
    })
    expect(readCloudEvent(delivered(out), { headerPrefix: 'cloudEvents:' }).id).toBe('id-1')
  })

  it('does not wrap a message that already is an event (dead-letter copies)', async () => {
    const once = await wrap({ mode: 'structured', source: '/s' }, base)
    expect(await wrap({ mode: 'structured', source: '/s' }, once)).toBe(once)
    const binary = await wrap({ mode: 'binary', source: '/s' }, base)
    expect(await wrap({ mode: 'binary', source: '/s' }, binary)).toBe(binary)
  })

  it('a message that is not an event fails with DecodeError', () => {
    const error = (() => {
      try {
        readCloudEvent(delivered(base))
      } catch (e) {
        return e
      }
    })()
    expect(isSwitchyardError(error, 'DecodeError')).toBe(true)
  })
})
