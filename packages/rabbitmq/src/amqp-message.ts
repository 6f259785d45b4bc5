/**
 * How a Switchyard message travels as an AMQP message, both ways.
 *
 * - `id` → `messageId`; `timestamp` → AMQP `timestamp` (seconds, for tools) and, to keep the
 *   milliseconds, the `x-switchyard-timestamp` header.
 * - `key` → the `x-switchyard-key` header; `priority` → AMQP `priority`; always persistent.
 * - `attempt` → the `x-switchyard-attempt` header on copies Switchyard republishes (nack, delay),
 *   plus the broker's own redeliveries: `x-delivery-count` on a quorum queue, else one when the
 *   broker sets `redelivered`.
 * - A republished copy travels through the default exchange, so its topic rides along in
 *   `x-switchyard-topic`.
 * Headers the transport adds are removed again on delivery, as are RabbitMQ's own dead-lettering
 * headers (`x-death`, `x-first-death-*`, `x-last-death-*`) and anything that is not a string, so
 * consumers see exactly the headers that were published.
 *
 * This module does no I/O.
 */
import type { Message, OutgoingMessage } from '@switchyard/core/spi'
import { SwitchyardHeaders } from '@switchyard/core/spi'
import type { Message as AmqpMessage, Options } from 'amqplib'
import { delayBucketHeader } from './naming.js'

/** Transport-internal headers (see the lead's note: candidates for `SwitchyardHeaders`). */
export const keyHeader = SwitchyardHeaders.key
export const topicHeader = SwitchyardHeaders.topic
const timestampHeader = SwitchyardHeaders.timestamp
const attemptHeader = SwitchyardHeaders.attempt

const internal = new Set([keyHeader, topicHeader, timestampHeader, attemptHeader, delayBucketHeader])

/** AMQP's header table is encoded in a 64 KiB buffer by amqplib; stay clear of it. */
export const maxHeaderBytes = 60_000

/** Publish properties of a message as first published. */
export function publishProperties(message: OutgoingMessage, mandatory: boolean): Options.Publish {
  const headers: Record<string, string> = Object.create(message.headers)
  headers[timestampHeader] = String(message.timestamp)
  if (message.key !== undefined) headers[keyHeader] = message.key
  const properties: Options.Publish = {
    persistent: true,
    messageId: message.id,
    timestamp: Math.floor(message.timestamp / 1000),
    headers,
  }
  if (message.priority !== undefined) properties.priority = message.priority
  if (mandatory) properties.mandatory = true
  return properties
}

/** Size of payload plus headers as amqplib encodes them (for `maxMessageBytes`). */
export function messageBytes(message: OutgoingMessage): { total: number; headers: number } {
  let headers = 64
  for (const name in message.headers) {
    const value = message.headers[name] ?? ''
    headers += 6 + Buffer.byteLength(name) + Buffer.byteLength(value)
  }
  if (message.key !== undefined) headers += 6 + keyHeader.length + Buffer.byteLength(message.key)
  return { total: message.payload.byteLength + headers, headers }
}

/** Turns a delivered AMQP message into the consumer's view. */
export function toMessage(raw: AmqpMessage): Message {
  const props = raw.properties
  const source = props.headers ?? {}
  const headers: Record<string, string> = {}
  for (const name in source) {
    const value = source[name]
    if (typeof value !== 'string' || internal.has(name)) continue
    if (name === 'x-death' || name.startsWith('x-first-death-') || name.startsWith('x-last-death-')) continue
    headers[name] = value
  }
  const stampMs = Number(source[timestampHeader])
  const attemptHeaderValue = Number(source[attemptHeader])
  const base = Number.isInteger(attemptHeaderValue) && attemptHeaderValue >= 1 ? attemptHeaderValue : 1
  const key = source[keyHeader]
  const topic = source[topicHeader]
  const content = raw.content
  return {
    id:
      typeof props.messageId === 'string'
        ? props.messageId
        : `${raw.fields.routingKey}:${raw.fields.deliveryTag}`,
    topic: typeof topic === 'string' ? topic : raw.fields.routingKey,
    key: typeof key === 'string' ? key : undefined,
    headers,
    payload: new Uint8Array(content.buffer, content.byteOffset, content.byteLength),
    timestamp: Number.isFinite(stampMs)
      ? stampMs
      : typeof props.timestamp === 'number'
        ? props.timestamp * 1000
        : Date.now(),
    attempt: base + brokerRedeliveries(source['x-delivery-count'], raw.fields.redelivered),
  }
}

/**
 * Deliveries the broker made again by itself (a consumer died or its channel closed before
 * settling): a quorum queue counts them exactly in `x-delivery-count`; a classic queue only flags
 * `redelivered`, so at least one. Switchyard's own retries are republished copies that carry their
 * attempt in a header, so nothing is counted twice.
 */
function brokerRedeliveries(deliveryCount: unknown, redelivered: boolean): number {
  const count = Number(deliveryCount)
  if (Number.isInteger(count) && count >= 1) return count
  return redelivered ? 1 : 0
}

/**
 * Properties of a copy republished by the transport (nack with requeue or delay): the same id,
 * timestamp, key, priority and headers, with the next attempt number and the original topic.
 */
export function republishProperties(
  raw: AmqpMessage,
  message: Message,
  extraHeaders?: Readonly<Record<string, string>>,
): Options.Publish {
  const headers: Record<string, unknown> = { ...message.headers, ...extraHeaders }
  headers[timestampHeader] = String(message.timestamp)
  headers[attemptHeader] = String(message.attempt + 1)
  headers[topicHeader] = message.topic
  if (message.key !== undefined) headers[keyHeader] = message.key
  const properties: Options.Publish = {
    persistent: true,
    messageId: message.id,
    timestamp: Math.floor(message.timestamp / 1000),
    headers,
  }
  if (typeof raw.properties.priority === 'number') properties.priority = raw.properties.priority
  return properties
}
