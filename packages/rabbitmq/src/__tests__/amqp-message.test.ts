import type { OutgoingMessage } from '@switchyard/core'
import type { Message as AmqpMessage } from 'amqplib'
import { describe, expect, it } from 'vitest'
import { messageBytes, publishProperties, republishProperties, toMessage } from '../amqp-message.js'

const outgoing: OutgoingMessage = {
  topic: 'orders.created',
  payload: Uint8Array.of(0, 255),
  id: 'id-1',
  timestamp: 1_700_000_000_123,
  headers: { 'x-tenant': 'acme', 'content-type': 'application/json' },
  key: 'k1',
  priority: 7,
}

/** What amqplib hands a consumer for a message published with `properties`. */
function delivered(
  properties: Record<string, unknown>,
  fields: Partial<AmqpMessage['fields']> = {},
): AmqpMessage {
  const headers: Record<string, unknown> = {}
  for (const name in properties.headers as object)
    headers[name] = (properties.headers as Record<string, unknown>)[name]
  return {
    content: Buffer.from([0, 255]),
    fields: {
      deliveryTag: 1,
      redelivered: false,
      exchange: 'switchyard.topics',
      routingKey: 'orders.created',
      ...fields,
    },
    properties: { ...properties, headers } as AmqpMessage['properties'],
  }
}

describe('amqp-message', () => {
  it('round-trips id, key, ms timestamp, priority and exactly the published headers', () => {
    const props = publishProperties(outgoing, false)
    expect(props).toMatchObject({
      persistent: true,
      messageId: 'id-1',
      timestamp: 1_700_000_000,
      priority: 7,
    })
    expect(props.mandatory).toBeUndefined()
    const message = toMessage(delivered(props as Record<string, unknown>))
    expect(message).toEqual({
      id: 'id-1',
      topic: 'orders.created',
      key: 'k1',
      headers: { 'x-tenant': 'acme', 'content-type': 'application/json' },
      payload: Uint8Array.of(0, 255),
      timestamp: 1_700_000_000_123,
      attempt: 1,
    })
    expect(publishProperties(outgoing, true).mandatory).toBe(true)
  })

  it('counts a broker redelivery as one more attempt', () => {
    const raw = delivered(publishProperties(outgoing, false) as Record<string, unknown>, {
      redelivered: true,
    })
    expect(toMessage(raw).attempt).toBe(2)
  })

  it("counts a quorum queue's x-delivery-count exactly, on top of the attempt a republished copy carries", () => {
    const props = publishProperties(outgoing, false) as { headers: Record<string, unknown> }
    const raw = delivered(
      { ...props, headers: { ...props.headers, 'x-delivery-count': 3 } },
      { redelivered: true },
    )
    expect(toMessage(raw).attempt).toBe(4)
    const copyProps = {
      ...props,
      headers: { ...props.headers, 'x-switchyard-attempt': '2', 'x-delivery-count': 1 },
    }
    expect(toMessage(delivered(copyProps, { redelivered: true })).attempt).toBe(3)
    // The count is the broker's: never a header of the message, never copied into a republished copy.
    expect(toMessage(raw).headers).not.toHaveProperty('x-delivery-count')
    expect(republishProperties(raw, toMessage(raw)).headers).not.toHaveProperty('x-delivery-count')
  })

  it('republishes with attempt + 1 and the original topic, and drops RabbitMQ death headers on delivery', () => {
    const first = toMessage(delivered(publishProperties(outgoing, false) as Record<string, unknown>))
    const raw = delivered(publishProperties(outgoing, false) as Record<string, unknown>)
    const again = republishProperties(raw, first, { 'switchyard-delay-bucket': '512' })
    const copy = delivered(
      {
        ...again,
        headers: { ...(again.headers as object), 'x-death': [{ count: 1 }], 'x-first-death-queue': 'q' },
      },
      { routingKey: 'switchyard:orders.created:billing', exchange: '' },
    )
    const message = toMessage(copy)
    expect(message).toMatchObject({ id: 'id-1', topic: 'orders.created', key: 'k1', attempt: 2 })
    expect(message.headers).toEqual({ 'x-tenant': 'acme', 'content-type': 'application/json' })
    expect(toMessage({ ...copy, fields: { ...copy.fields, redelivered: true } }).attempt).toBe(3)
  })

  it('measures payload plus headers in UTF-8 bytes', () => {
    const size = messageBytes({ ...outgoing, headers: { é: 'ü' } })
    expect(size.total - size.headers).toBe(2)
    expect(size.headers).toBe(64 + 6 + 2 + 2 + 6 + 'x-switchyard-key'.length + 2)
  })
})
