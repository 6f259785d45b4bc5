/**
 * How Switchyard's names and messages look on NATS JetStream: the subject of a topic or pattern,
 * the durable consumer name of a (topic, group) pair, and the headers that carry a message's id,
 * key, timestamp and user headers. Pure functions; no connection.
 *
 * NATS headers trim values and refuse CR/LF in values and non-ASCII or `:` in names; a header
 * that would not survive is percent-encoded and its (encoded) name listed in
 * `x-switchyard-nats-encoded`, so every string header round-trips exactly.
 */
import { createHash } from 'node:crypto'
import type { JsMsg } from '@nats-io/jetstream'
import { type MsgHdrs, headers as natsHeaders } from '@nats-io/transport-node'
import { type Message, type OutgoingMessage, SwitchyardHeaders } from '@switchyard/core/spi'

/** The header listing the percent-encoded header names (a JSON array), present only when needed. */
export const encodedHeader = 'x-switchyard-nats-encoded'
const reserved = new Set<string>([
  SwitchyardHeaders.messageId,
  SwitchyardHeaders.key,
  SwitchyardHeaders.timestamp,
  encodedHeader,
])

/** Subject of a topic (`orders.created` → `<prefix>.orders.created`); `*` is NATS's `*`. */
export function subjectOf(prefix: string, topic: string): string {
  return `${prefix}.${topic}`
}

/**
 * The consumer filter of a topic or pattern, and whether the driver must check each message
 * against the pattern itself. NATS's `>` matches one or more words where `#` matches zero or
 * more, so `a.b.#` filters on `a.>` (covering `a.b` and `a.b.…`) and the driver drops the rest;
 * `a.#` filters on the whole stream (`<prefix>.>`).
 */
export function filterOf(prefix: string, topic: string): { subject: string; exact: boolean } {
  const words = topic.split('.')
  const hash = words.indexOf('#')
  if (hash < 0) return { subject: subjectOf(prefix, topic), exact: true }
  const kept = words.slice(0, Math.max(0, hash - 1))
  return { subject: [prefix, ...kept, '>'].join('.'), exact: false }
}

/** The topic of a subject in this prefix's stream. */
export function topicOf(prefix: string, subject: string): string {
  return subject.slice(prefix.length + 1)
}

/**
 * The durable consumer of `group` on `topic`: readable (`<group>_<topic with . * # as _>`, cut to
 * 120 characters) and made unique by 12 hex characters of a SHA-256 of the exact pair, since
 * consumer names cannot hold `.`, `*` or `>`.
 */
export function durableName(topic: string, group: string): string {
  const hash = createHash('sha256').update(`${group}\u0000${topic}`).digest('hex').slice(0, 12)
  const readable = `${group}_${topic}`.replace(/[.*#]/g, '_').slice(0, 120)
  return `${readable}_${hash}`
}

/**
 * The group of `name`, a durable consumer of `topic` (the inverse of {@link durableName}), or
 * `undefined` when it is not one or cannot be read back (`<group>_<topic>` over 120 characters).
 * Each `_` of the group's part was `_` or `.`: every way (at most 2¹⁰) is checked against the hash.
 */
export function groupOf(topic: string, name: string): string | undefined {
  const tail = `_${topic.replace(/[.*#]/g, '_')}_${name.slice(-12)}`
  const words = name.slice(0, -tail.length).split('_')
  if (!name.endsWith(tail) || words.length > 11) return undefined
  for (let ways = 0; ways < 1 << (words.length - 1); ways++) {
    const group = words.reduce((g, w, i) => g + ((ways >> (i - 1)) & 1 ? '.' : '_') + w)
    if (durableName(topic, group) === name) return group
  }
  return undefined
}

/** The description of a topic's consumers, which `deprovision` and `inspect` look for. */
export function describeTopic(topic: string): string {
  return `switchyard topic ${topic}`
}

const safeName = (name: string): boolean => /^[!-9;-~]+$/.test(name)
const safeValue = (value: string): boolean => !/[\r\n]/.test(value) && value.trim() === value

/**
 * NATS headers of an outgoing message: its user headers, id, key and timestamp. The id is not the
 * `Nats-Msg-Id`: the Bus republishes a message with its id (dead letters, replays), which the
 * stream's duplicate window would drop.
 */
export function toNatsHeaders(message: OutgoingMessage): MsgHdrs {
  const h = natsHeaders()
  const encoded: string[] = []
  for (const name in message.headers) {
    const value = message.headers[name] as string
    if (safeName(name) && safeValue(value)) {
      h.set(name, value)
    } else {
      const n = encodeURIComponent(name)
      h.set(n, encodeURIComponent(value))
      encoded.push(n)
    }
  }
  h.set(SwitchyardHeaders.messageId, message.id)
  h.set(SwitchyardHeaders.timestamp, String(message.timestamp))
  if (message.key !== undefined) h.set(SwitchyardHeaders.key, encodeURIComponent(message.key))
  if (encoded.length > 0) h.set(encodedHeader, JSON.stringify(encoded))
  return h
}

/** The Switchyard message of a JetStream delivery; `attempt` is the server's delivery count. */
export function fromJsMsg(prefix: string, m: JsMsg): Message {
  const h = m.headers
  const headers: Record<string, string> = {}
  let id = ''
  let key: string | undefined
  let timestamp = 0
  if (h !== undefined) {
    const encodedList = h.get(encodedHeader)
    const encoded = encodedList ? new Set<string>(JSON.parse(encodedList) as string[]) : undefined
    for (const name of h.keys()) {
      const value = h.get(name)
      if (reserved.has(name)) {
        if (name === SwitchyardHeaders.messageId) id = value
        else if (name === SwitchyardHeaders.key) key = decodeURIComponent(value)
        else if (name === SwitchyardHeaders.timestamp) timestamp = Number(value)
      } else if (encoded?.has(name)) {
        headers[decodeURIComponent(name)] = decodeURIComponent(value)
      } else {
        headers[name] = value
      }
    }
  }
  return {
    id: id || `${prefix}:${m.seq}`,
    topic: topicOf(prefix, m.subject),
    key,
    headers,
    payload: m.data,
    timestamp: timestamp || Math.floor(m.info.timestampNanos / 1e6),
    attempt: m.info.deliveryCount,
  }
}
