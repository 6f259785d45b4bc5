/**
 * CloudEvents scenarios: the `cloudEvents` publish interceptor, `readCloudEvent` and
 * `cloudEventsCodec` of `@switchyard/core` on the transport under test. Events are written in
 * binary and structured mode, carried by the broker, and compared byte for byte with the examples
 * of the CloudEvents 1.0 specification (the JSON format's event, the Kafka binding's headers), then
 * read back through a Bus.
 *
 * This module registers tests only and never looks at `transport.kind`.
 */
import {
  Bus,
  cloudEvents,
  cloudEventsCodec,
  cloudEventsContentType,
  jsonCodec,
  readCloudEvent,
  SwitchyardHeaders,
} from '@switchyard/core'
import { expect, it } from 'vitest'
import type { ContractHarness } from './contract-harness.js'
import { payloadText } from './create-message.js'

/** The JSON-format example of the spec (extension attributes left out), minified. */
const specStructured =
  '{"specversion":"1.0","type":"com.example.someevent","source":"/mycontext","id":"A234-1234-1234",' +
  '"time":"2018-04-05T17:31:00Z","datacontenttype":"text/xml","data":"<much wow=\\"xml\\"/>"}'

/** The Kafka protocol binding's binary-mode example headers. */
const specBinaryHeaders = {
  ce_specversion: '1.0',
  ce_type: 'com.example.someevent',
  ce_source: '/mycontext/subcontext',
  ce_id: '1234-1234-1234',
  ce_time: '2018-04-05T03:56:24Z',
  'content-type': 'application/avro',
}

export function registerCloudEventsScenarios(h: ContractHarness): void {
  it(
    'writes the spec examples byte for byte in structured and binary mode, and reads them back',
    async () => {
      const [producer, consumer] = await h.pair()
      const topic = h.topic('ce-spec')
      const group = h.group()
      await producer.provision(topic, { groups: [group] })
      const seen = h.collect(consumer, topic, { group })
      await seen.ready
      const send = (messages: Parameters<typeof producer.publish>[0]) => producer.publish(messages)
      await cloudEvents({ mode: 'structured', source: '/mycontext', type: 'com.example.someevent' })(send)([
        {
          topic,
          id: 'A234-1234-1234',
          timestamp: Date.parse('2018-04-05T17:31:00Z'),
          headers: { [SwitchyardHeaders.contentType]: 'text/xml' },
          payload: new TextEncoder().encode('<much wow="xml"/>'),
        },
      ])
      const avro = new Uint8Array([0x02, 0x06, 0x66, 0x6f, 0x6f, 0x00, 0xff])
      await cloudEvents({ mode: 'binary', source: '/mycontext/subcontext', type: 'com.example.someevent' })(
        send,
      )([
        {
          topic,
          id: '1234-1234-1234',
          key: 'mykey',
          timestamp: Date.parse('2018-04-05T03:56:24Z'),
          headers: { [SwitchyardHeaders.contentType]: 'application/avro' },
          payload: avro,
        },
      ])
      await seen.waitForDeliveries(2, h.ms(10_000))
      // Two keys may land on two partitions: find each event by its content type, not by order.
      const messages = seen.deliveries.map((d) => d.message)
      const structured = messages.find(
        (m) => m.headers[SwitchyardHeaders.contentType] === cloudEventsContentType,
      )
      const binary = messages.find((m) => m.headers[SwitchyardHeaders.contentType] === 'application/avro')
      if (structured === undefined || binary === undefined)
        throw new Error('a structured and a binary event expected')

      expect(payloadText(structured.payload)).toBe(specStructured)
      expect(structured.headers[SwitchyardHeaders.contentType]).toBe(cloudEventsContentType)
      expect(readCloudEvent(structured)).toEqual({
        specversion: '1.0',
        id: 'A234-1234-1234',
        source: '/mycontext',
        type: 'com.example.someevent',
        time: '2018-04-05T17:31:00Z',
        datacontenttype: 'text/xml',
        data: new TextEncoder().encode('<much wow="xml"/>'),
      })

      expect(binary.headers).toMatchObject({ ...specBinaryHeaders, ce_subject: 'mykey' })
      expect([...binary.payload]).toEqual([...avro])
      expect(readCloudEvent(binary)).toMatchObject({
        id: '1234-1234-1234',
        source: '/mycontext/subcontext',
        type: 'com.example.someevent',
        time: '2018-04-05T03:56:24Z',
        datacontenttype: 'application/avro',
        subject: 'mykey',
      })
      expect(binary.id).toBe('1234-1234-1234')
      expect(binary.key).toBe('mykey')
    },
    h.testTimeout(30_000),
  )

  it(
    'a Bus round trip in both modes maps id, time, subject and content type to the message fields',
    async () => {
      const [producer, consumer] = await h.pair()
      const topic = h.topic('ce-bus')
      const group = h.group()
      await producer.provision(topic, { groups: [group] })
      const received: { id: string; key: string | undefined; payload: unknown }[] = []
      const reader = h.bus(consumer)
      const codec = cloudEventsCodec(jsonCodec)
      await reader.handle(topic, { group, codec }, (m) => {
        received.push({ id: m.id, key: m.key, payload: m.payload })
      }).ready
      for (const mode of ['binary', 'structured'] as const) {
        const bus = new Bus(producer, {
          publishInterceptors: [cloudEvents({ mode, source: '/talent', type: 'talent.registered' })],
        })
        h.track({ close: () => bus.close({ drain: false }) })
        await bus.publish(topic, { mode, n: 1 }, { key: `k-${mode}`, id: `id-${mode}` })
      }
      await h.waitFor(() => received.length === 2, { description: 'both events handled' })
      for (const r of received) {
        const mode = (r.payload as { mode: string }).mode
        expect(r.payload).toEqual({ mode, n: 1 })
        expect(r.id).toBe(`id-${mode}`)
        expect(r.key).toBe(`k-${mode}`)
      }
      expect(received.map((r) => (r.payload as { mode: string }).mode).sort()).toEqual([
        'binary',
        'structured',
      ])
    },
    h.testTimeout(30_000),
  )
}
