/**
 * How a Switchyard message is laid out in a stream entry, and back. Field names are readable so
 * that `XRANGE` in redis-cli shows what was sent: `id`, `ts`, `key` (when given), `headers` (JSON,
 * when not empty) and `payload` (the bytes, unchanged).
 */
import type { Message, OutgoingMessage } from '@switchyard/core/spi'

/** A stream entry as RESP2 returns it with bulk strings as Buffers: `[id, [field, value, …]]`, fields `null` once deleted. */
export type RawEntry = [Buffer, Buffer[] | null]

const toBuffer = (payload: Uint8Array): Buffer =>
  Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)

/** The `field value …` part of `XADD` for one message. */
export const entryFields = (message: OutgoingMessage): (string | Buffer)[] => {
  const fields: (string | Buffer)[] = ['id', message.id, 'ts', String(message.timestamp)]
  if (message.key !== undefined) fields.push('key', message.key)
  for (const _ in message.headers) {
    fields.push('headers', JSON.stringify(message.headers))
    break
  }
  fields.push('payload', toBuffer(message.payload))
  return fields
}

const noHeaders: Readonly<Record<string, string>> = Object.freeze({})

/** The message in an entry, or `undefined` for an entry that is not Switchyard's (no `id`/`payload`). */
export const entryMessage = (topic: string, fields: Buffer[], attempt: number): Message | undefined => {
  let id: string | undefined
  let timestamp = 0
  let key: string | undefined
  let headers = noHeaders
  let payload: Buffer | undefined
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const value = fields[i + 1] as Buffer
    switch ((fields[i] as Buffer).toString('latin1')) {
      case 'id':
        id = value.toString()
        break
      case 'ts':
        timestamp = Number(value.toString('latin1'))
        break
      case 'key':
        key = value.toString()
        break
      case 'headers':
        headers = JSON.parse(value.toString()) as Record<string, string>
        break
      case 'payload':
        payload = value
        break
    }
  }
  if (id === undefined || payload === undefined) return undefined
  return { id, topic, key, headers, payload, timestamp, attempt }
}
