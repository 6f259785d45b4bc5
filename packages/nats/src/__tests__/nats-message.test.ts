import type { JsMsg } from '@nats-io/jetstream'
import type { OutgoingMessage } from '@switchyard/core'
import { describe, expect, it } from 'vitest'
import {
  durableName,
  encodedHeader,
  filterOf,
  fromJsMsg,
  groupOf,
  subjectOf,
  toNatsHeaders,
} from '../nats-message.js'

/** What the server hands back: the headers as the client parses them from the wire. */
function delivered(message: OutgoingMessage, deliveryCount = 1): JsMsg {
  const headers = toNatsHeaders(message)
  return {
    subject: subjectOf('sy', message.topic),
    data: message.payload,
    headers,
    seq: 7,
    info: { deliveryCount, timestampNanos: 1_700_000_000_000_000_000 },
  } as unknown as JsMsg
}

const message = (headers: Record<string, string>, key?: string): OutgoingMessage => ({
  topic: 'orders.created',
  payload: new Uint8Array([0, 1, 255]),
  id: 'id-1',
  timestamp: 1_234,
  headers,
  ...(key === undefined ? {} : { key }),
})

describe('subjects and consumer names', () => {
  it('maps topics and patterns to subjects in the prefix', () => {
    expect(subjectOf('sy', 'orders.created')).toBe('sy.orders.created')
    expect(filterOf('sy', 'orders.*')).toEqual({ subject: 'sy.orders.*', exact: true })
  })

  it('filters a pattern with # on the parent of the words before it, since > needs one word', () => {
    expect(filterOf('sy', 'eu.orders.#')).toEqual({ subject: 'sy.eu.>', exact: false })
    expect(filterOf('sy', 'orders.#')).toEqual({ subject: 'sy.>', exact: false })
    expect(filterOf('sy', '*.orders.#.done')).toEqual({ subject: 'sy.*.>', exact: false })
  })

  it('gives each (topic, group) its own valid consumer name', () => {
    const a = durableName('a.b', 'g')
    const b = durableName('a_b', 'g')
    const c = durableName('a.*', 'g')
    expect(new Set([a, b, c]).size).toBe(3)
    for (const name of [a, b, c, durableName('x'.repeat(200), 'y'.repeat(200))]) {
      expect(name).toMatch(/^[A-Za-z0-9_-]{1,140}$/)
    }
  })
})

describe('groupOf (the group of a consumer name, for inspect)', () => {
  it('reads back a group with dots, underscores and dashes from its consumer name', () => {
    for (const [topic, group] of [
      ['orders.created', 'workers'],
      ['orders.*', 'billing.v2'],
      ['a_b.c', 'my_group'],
      ['eu.orders.#', 'a.b_c.d-e'],
    ] as const) {
      expect(groupOf(topic, durableName(topic, group))).toBe(group)
    }
  })

  it('is undefined for a private consumer, another topic’s consumer, or a name cut at 120 characters', () => {
    expect(groupOf('orders', 'sub_0123456789abcdef0123456789abcdef')).toBeUndefined()
    expect(groupOf('orders', durableName('orders.x', 'g'))).toBeUndefined()
    expect(groupOf('a.b', durableName('a_b', 'g'))).toBeUndefined()
    expect(groupOf('t'.repeat(100), durableName('t'.repeat(100), 'g'.repeat(30)))).toBeUndefined()
  })
})

describe('headers', () => {
  it('round-trips id, key, timestamp and plain headers, with the delivery count as attempt', () => {
    const m = fromJsMsg('sy', delivered(message({ 'x-plain': 'v', 'X-Mixed-Case': 'Case' }, 'k-ü'), 3))
    expect(m).toMatchObject({ id: 'id-1', topic: 'orders.created', key: 'k-ü', timestamp: 1_234, attempt: 3 })
    expect(m.headers).toEqual({ 'x-plain': 'v', 'X-Mixed-Case': 'Case' })
    expect(Array.from(m.payload)).toEqual([0, 1, 255])
  })

  it('encodes what NATS headers cannot carry, and only that', () => {
    const headers = {
      'x-newline': 'line 1\nline 2',
      'x-spaces': '  padded  ',
      'x-empty': '',
      'ünïcode-name': 'Grüße 🚀',
      'x-colon:name': 'v',
    }
    const raw = delivered(message(headers))
    expect(raw.headers?.get(encodedHeader)).not.toBe('')
    expect(raw.headers?.get('x-empty')).toBe('')
    expect(fromJsMsg('sy', raw).headers).toEqual(headers)
    expect(delivered(message({ a: 'b' })).headers?.has(encodedHeader)).toBe(false)
  })
})
