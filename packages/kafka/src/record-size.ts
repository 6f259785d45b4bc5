/**
 * How much of Kafka's record-size limit a Switchyard message uses, counted the same way by every
 * Kafka driver (kafkajs and @platformatic/kafka), so both refuse and split batches alike.
 * Pure arithmetic: no client, no I/O.
 */
import { type OutgoingMessage, SwitchyardHeaders } from '@switchyard/core/spi'

/** Kafka's default `message.max.bytes` (the broker's own value is not read: capabilities are fixed). */
export const brokerLimit = 1_048_588
/** Room kept for the record batch and record headers Kafka adds around a payload. */
export const batchOverhead = 256
/** Per-record framing counted when splitting a publish into record batches. */
const recordOverhead = 70

function byteLength(text: string): number {
  return Buffer.byteLength(text, 'utf8')
}

/** Payload, key, id and headers: what counts against the broker's limit for one record. */
export function recordBytes(m: OutgoingMessage): number {
  let size = m.payload.byteLength + byteLength(m.id) + SwitchyardHeaders.messageId.length + recordOverhead
  if (m.key !== undefined) size += byteLength(m.key)
  for (const name in m.headers) size += byteLength(name) + byteLength(m.headers[name] ?? '')
  return size
}
