/**
 * CloudEvents 1.0 envelopes: a publish interceptor that writes them (binary or structured content
 * mode), a reader of their attributes, and a codec that reads the event data of either mode.
 *
 * Mapping to Switchyard's message fields, both ways: `id` = message id, `time` = publish timestamp
 * (RFC 3339), `datacontenttype` = the `content-type` header, `subject` = the key; `source` and
 * `type` come from the options (`type` defaults to the topic). Binary mode puts the attributes in
 * headers named `<prefix><attribute>` (`ce_` by default, as the Kafka binding; `cloudEvents:` for
 * the AMQP binding), the payload stays the data. Structured mode replaces the payload with the JSON
 * event (`application/cloudevents+json`), the data inline when it is JSON, else in `data_base64`.
 */
import type { Codec, PublishInterceptor } from './bus-options.js'
import { DecodeError } from './errors.js'
import { SwitchyardHeaders } from './headers.js'
import type { Message, OutgoingMessage } from './message.js'

/** The content type of a structured-mode event. */
export const cloudEventsContentType = 'application/cloudevents+json'
const defaultPrefix = 'ce_'
const utf8 = new TextEncoder()
const utf8Decoder = new TextDecoder('utf-8', { fatal: true })

/** The context attributes Switchyard maps, plus the data. */
export interface CloudEvent<T = Uint8Array> {
  readonly specversion: '1.0'
  readonly id: string
  readonly source: string
  readonly type: string
  readonly time?: string
  readonly datacontenttype?: string
  readonly subject?: string
  readonly data: T
}

/** Options of {@link cloudEvents}. */
export interface CloudEventsOptions {
  /** `binary` (attributes in headers) or `structured` (the event as a JSON payload). */
  readonly mode: 'binary' | 'structured'
  /** The `source` attribute: a URI reference naming the producer, e.g. `/talent/registration`. */
  readonly source: string
  /** The `type` attribute (default: the topic), e.g. `com.example.talent.registered`. */
  readonly type?: string | ((message: OutgoingMessage) => string)
  /** Binary mode header prefix: `ce_` (default; Kafka, HTTP-style) or `cloudEvents:` (AMQP binding). */
  readonly headerPrefix?: string
}

function isJson(contentType: string | undefined): boolean {
  if (contentType === undefined) return false
  const base = contentType.split(';')[0]?.trim().toLowerCase() ?? ''
  return base === 'application/json' || base.endsWith('+json')
}

/** RFC 3339 in UTC, without a fraction when the milliseconds are 0 (as the spec's examples). */
function ceTime(timestamp: number): string {
  return new Date(timestamp).toISOString().replace('.000Z', 'Z')
}

function isText(contentType: string | undefined): boolean {
  const base = contentType?.split(';')[0]?.trim().toLowerCase() ?? ''
  return base.startsWith('text/') || base === 'application/xml' || base.endsWith('+xml')
}

/**
 * A publish interceptor that turns every message the Bus publishes into a CloudEvent. Messages
 * that already are one (a structured payload, or a binary `id` header) pass unchanged, so
 * dead-letter copies are not wrapped twice.
 *
 * @example
 * const bus = new Bus(transport, {
 *   publishInterceptors: [cloudEvents({ mode: 'binary', source: '/registration', type: 'talent.registered' })],
 * })
 */
export function cloudEvents(options: CloudEventsOptions): PublishInterceptor {
  const prefix = options.headerPrefix ?? defaultPrefix
  const typeOf = (m: OutgoingMessage): string =>
    typeof options.type === 'function' ? options.type(m) : (options.type ?? m.topic)
  const wrap = (m: OutgoingMessage): OutgoingMessage => {
    const contentType = m.headers[SwitchyardHeaders.contentType]
    if (contentType === cloudEventsContentType || m.headers[`${prefix}id`] !== undefined) return m
    if (options.mode === 'binary') {
      const headers: Record<string, string> = {
        ...m.headers,
        [`${prefix}specversion`]: '1.0',
        [`${prefix}id`]: m.id,
        [`${prefix}source`]: options.source,
        [`${prefix}type`]: typeOf(m),
        [`${prefix}time`]: ceTime(m.timestamp),
      }
      if (m.key !== undefined) headers[`${prefix}subject`] = m.key
      return { ...m, headers }
    }
    // Attribute order as in the spec's JSON example.
    const event: Record<string, unknown> = {
      specversion: '1.0',
      type: typeOf(m),
      source: options.source,
      id: m.id,
      time: ceTime(m.timestamp),
    }
    if (m.key !== undefined) event.subject = m.key
    if (contentType !== undefined) event.datacontenttype = contentType
    if (isJson(contentType)) event.data = JSON.parse(utf8Decoder.decode(m.payload))
    else if (isText(contentType)) event.data = utf8Decoder.decode(m.payload)
    else event.data_base64 = Buffer.from(m.payload).toString('base64')
    return {
      ...m,
      payload: utf8.encode(JSON.stringify(event)),
      headers: { ...m.headers, [SwitchyardHeaders.contentType]: cloudEventsContentType },
    }
  }
  return (next) => (messages) => next(messages.map(wrap))
}

function notAnEvent(message: Message<Uint8Array>, reason: string): DecodeError {
  return new DecodeError(message.topic, `not a CloudEvent: ${reason}`)
}

function required(message: Message<Uint8Array>, value: unknown, name: string): string {
  if (typeof value !== 'string' || value.length === 0) throw notAnEvent(message, `${name} is missing`)
  return value
}

/**
 * Reads the CloudEvent of a delivered message, in either mode (structured when its content type
 * is `application/cloudevents+json`, else binary with `headerPrefix`). `data` is the event data
 * as bytes. Throws `DecodeError` when the message is not a CloudEvent 1.0.
 */
export function readCloudEvent(
  message: Message<Uint8Array>,
  options: { readonly headerPrefix?: string } = {},
): CloudEvent<Uint8Array> {
  const contentType = message.headers[SwitchyardHeaders.contentType]
  if (contentType?.split(';')[0]?.trim().toLowerCase() === cloudEventsContentType) {
    let event: Record<string, unknown>
    try {
      event = JSON.parse(utf8Decoder.decode(message.payload)) as Record<string, unknown>
    } catch (error) {
      throw new DecodeError(message.topic, 'a structured CloudEvent is not valid JSON', { cause: error })
    }
    if (event.specversion !== '1.0') throw notAnEvent(message, 'specversion is not 1.0')
    const datacontenttype = typeof event.datacontenttype === 'string' ? event.datacontenttype : undefined
    let data: Uint8Array
    if (typeof event.data_base64 === 'string') data = new Uint8Array(Buffer.from(event.data_base64, 'base64'))
    else if (event.data === undefined) data = new Uint8Array(0)
    else if (typeof event.data === 'string' && !isJson(datacontenttype)) data = utf8.encode(event.data)
    // JSON data is re-serialised: the bytes are equivalent JSON, not necessarily the producer's bytes.
    else data = utf8.encode(JSON.stringify(event.data))
    return withOptional(
      {
        specversion: '1.0',
        id: required(message, event.id, 'id'),
        source: required(message, event.source, 'source'),
        type: required(message, event.type, 'type'),
        data,
      },
      event.time,
      datacontenttype,
      event.subject,
    )
  }
  const prefix = options.headerPrefix ?? defaultPrefix
  const h = message.headers
  if (h[`${prefix}specversion`] !== '1.0') throw notAnEvent(message, `header ${prefix}specversion is not 1.0`)
  return withOptional(
    {
      specversion: '1.0',
      id: required(message, h[`${prefix}id`], 'id'),
      source: required(message, h[`${prefix}source`], 'source'),
      type: required(message, h[`${prefix}type`], 'type'),
      data: message.payload,
    },
    h[`${prefix}time`],
    contentType,
    h[`${prefix}subject`],
  )
}

function withOptional(
  event: CloudEvent<Uint8Array>,
  time: unknown,
  datacontenttype: unknown,
  subject: unknown,
): CloudEvent<Uint8Array> {
  const out: { -readonly [K in keyof CloudEvent<Uint8Array>]: CloudEvent<Uint8Array>[K] } = { ...event }
  if (typeof time === 'string') out.time = time
  if (typeof datacontenttype === 'string') out.datacontenttype = datacontenttype
  if (typeof subject === 'string') out.subject = subject
  return out
}

/**
 * A codec that reads the data of a CloudEvent in either mode with `inner` (default: the JSON
 * codec of the caller), and encodes with `inner` (pair it with the {@link cloudEvents}
 * interceptor to publish events). A message that is not a CloudEvent fails with `DecodeError`.
 *
 * @example
 * bus.handle('talent.registered', { group: 'mail', codec: cloudEventsCodec(jsonCodec) }, (m) => …)
 */
export function cloudEventsCodec<T>(
  inner: Codec<T>,
  options: { readonly headerPrefix?: string } = {},
): Codec<T> {
  return {
    contentType: inner.contentType,
    encode: (value, topic) => inner.encode(value, topic),
    decode: (bytes, message) => {
      const event = readCloudEvent({ ...message, payload: bytes }, options)
      return inner.decode(event.data, message)
    },
  }
}
