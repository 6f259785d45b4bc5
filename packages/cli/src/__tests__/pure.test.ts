/** The command's pure parts: filters, times, headers, payload display, diffs, exit codes, replay copies. */
import {
  ConfigError,
  type DeadLetter,
  readDeadLetter,
  SwitchyardHeaders,
  TlsError,
  type Transport,
} from '@switchyard/core'
import { describe, expect, it } from 'vitest'
import { diffValues } from '../config-diff.js'
import { matches, parseTime } from '../dead-letter-filter.js'
import { replayCopy } from '../dlq-command.js'
import { CliError, ExitCode, exitCodeOf } from '../exit-codes.js'
import { inspectTransport } from '../lag-command.js'
import { showPayload } from '../payload.js'
import { parseHeaders } from '../publish-command.js'

const h = SwitchyardHeaders

function letter(headers: Record<string, string>, key?: string): DeadLetter {
  return readDeadLetter({
    id: 'm-1',
    topic: 'orders.dlq',
    key,
    headers,
    payload: new TextEncoder().encode('{"n":1}'),
    timestamp: 0,
    attempt: 1,
  }) as DeadLetter
}

describe('dead-letter filters', () => {
  const l = letter({ [h.errorName]: 'DecodeError', [h.deadLetteredAt]: '2026-12-03T10:00:00.000Z' })
  it('match by error name, id and time window', () => {
    expect(matches(l, { errorName: 'DecodeError' })).toBe(true)
    expect(matches(l, { errorName: 'Error' })).toBe(false)
    expect(matches(l, { ids: ['m-2'] })).toBe(false)
    expect(matches(l, { ids: ['m-2', 'm-1'] })).toBe(true)
    expect(
      matches(l, { since: Date.parse('2026-12-03T09:00:00Z'), until: Date.parse('2026-12-03T11:00:00Z') }),
    ).toBe(true)
    expect(matches(l, { since: Date.parse('2026-12-03T10:00:01Z') })).toBe(false)
    expect(matches(letter({}), { since: 0 })).toBe(false)
  })
  it('parse ISO dates and spans ago, and refuse anything else', () => {
    expect(parseTime('--since', '15m', 1_000_000)).toBe(100_000)
    expect(parseTime('--since', '2026-12-03T10:00:00Z')).toBe(Date.parse('2026-12-03T10:00:00Z'))
    expect(() => parseTime('--since', 'soon')).toThrow(CliError)
  })
})

describe('replay copy', () => {
  it('goes to the original topic with reason headers removed and replayed-from set', () => {
    const copy = replayCopy(
      letter(
        {
          [h.errorName]: 'Error',
          [h.errorMessage]: 'boom',
          [h.attempts]: '3',
          [h.originalTopic]: 'orders',
          [h.originalGroup]: 'billing',
          'content-type': 'application/json',
          'x-tenant': 'acme',
        },
        'k1',
      ),
      'fallback',
    )
    expect(copy).toMatchObject({ topic: 'orders', id: 'm-1', key: 'k1' })
    expect(copy.headers).toEqual({
      'content-type': 'application/json',
      'x-tenant': 'acme',
      [h.replayedFrom]: 'orders.dlq',
    })
  })
  it('falls back to the topic whose DLQ was read when the original topic is unknown', () => {
    expect(replayCopy(letter({}), 'orders').topic).toBe('orders')
  })
})

describe('payload display', () => {
  const bytes = (s: string): Uint8Array => new TextEncoder().encode(s)
  it('decodes by content type', () => {
    expect(showPayload(bytes('{"a":1}'), { 'content-type': 'application/json' })).toEqual({
      encoding: 'json',
      value: { a: 1 },
    })
    expect(showPayload(bytes('{bad'), { 'content-type': 'application/json' })).toEqual({
      encoding: 'text',
      value: '{bad',
    })
    expect(showPayload(bytes('hi'), { 'content-type': 'text/plain; charset=utf-8' })).toEqual({
      encoding: 'text',
      value: 'hi',
    })
    expect(showPayload(new Uint8Array([0xff, 0x00]), {})).toEqual({ encoding: 'base64', value: '/wA=' })
    expect(showPayload(bytes('hi'), { 'content-type': 'application/octet-stream' })).toEqual({
      encoding: 'base64',
      value: 'aGk=',
    })
  })
})

describe('headers', () => {
  it('parse k=v pairs (values may hold =) and refuse the rest', () => {
    expect(parseHeaders(['A=1', 'b=x=y'])).toEqual({ a: '1', b: 'x=y' })
    expect(() => parseHeaders(['=1'])).toThrow(/name=value/)
  })
})

describe('config diff', () => {
  it('lists added, removed and changed paths', () => {
    expect(diffValues({ a: 1, b: { c: [1, 2] } }, { a: 2, b: { c: [1] }, d: null })).toEqual([
      { path: 'a', kind: 'changed', before: 1, after: 2 },
      { path: 'b.c[1]', kind: 'removed', before: 2 },
      { path: 'd', kind: 'added', after: null },
    ])
    expect(diffValues(undefined, 5)).toEqual([{ path: '(root)', kind: 'added', after: 5 }])
    expect(diffValues({ a: 1 }, { a: 1 })).toEqual([])
  })
})

describe('exit codes', () => {
  it('map typed errors by name and CliError by its own code', () => {
    expect(exitCodeOf(new ConfigError('x', ['y']))).toBe(ExitCode.badInput)
    expect(exitCodeOf(new TlsError('redis', '127.0.0.1:6393', 'untrusted-server-certificate'))).toBe(
      ExitCode.unreachable,
    )
    expect(exitCodeOf(new CliError('nope', ExitCode.unsupported))).toBe(ExitCode.unsupported)
    expect(exitCodeOf(new Error('plain'))).toBe(ExitCode.failed)
  })
})

describe('inspectTransport', () => {
  it('rejects with a CapabilityError (exit 4) naming Transport.inspect when a transport has none', async () => {
    const plain = { kind: 'plain' } as unknown as Transport
    const error = await inspectTransport(plain, {}).catch((e: unknown) => e)
    expect(exitCodeOf(error)).toBe(ExitCode.unsupported)
    expect((error as Error).message).toContain('Transport.inspect')
  })
})
