import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { bytesCodec, isSwitchyardError, jsonCodec, type Message, schemaCodec, stringCodec } from '../index.js'

const message = (payload: Uint8Array): Message => ({
  id: 'id-1',
  topic: 'codec.test',
  key: undefined,
  headers: {},
  payload,
  timestamp: 0,
  attempt: 1,
})
const bytes = (text: string) => new TextEncoder().encode(text)
const caught = async (f: () => unknown) => {
  try {
    await f()
  } catch (error) {
    return error as Error & { reason?: string }
  }
  throw new Error('expected a throw')
}

describe('jsonCodec', () => {
  it('round-trips JSON values with content-type application/json', () => {
    const value = { a: 1, b: ['x', null, true], c: { d: 'é€😀' } }
    const encoded = jsonCodec.encode(value, 'codec.test')
    expect(encoded).toBeInstanceOf(Uint8Array)
    expect(jsonCodec.contentType).toBe('application/json')
    expect(jsonCodec.decode(encoded, message(encoded))).toEqual(value)
  })

  it('throws DecodeError with the parser reason for a non-JSON payload', async () => {
    const error = await caught(() => jsonCodec.decode(bytes('hello {'), message(bytes('hello {'))))
    expect(isSwitchyardError(error, 'DecodeError')).toBe(true)
    expect(error.reason).toMatch(/^payload is not valid JSON: /)
    expect(error.message).toContain('codec.test')
  })

  it('throws DecodeError for invalid UTF-8', async () => {
    const bad = new Uint8Array([0xff, 0xfe, 0x41])
    const error = await caught(() => jsonCodec.decode(bad, message(bad)))
    expect(error.reason).toBe('payload is not valid UTF-8')
  })

  it('throws EncodeError for a cycle, a BigInt and a top-level undefined', async () => {
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    for (const value of [cyclic, 10n, undefined]) {
      const error = await caught(() => jsonCodec.encode(value, 'codec.test'))
      expect(isSwitchyardError(error, 'EncodeError')).toBe(true)
    }
  })
})

describe('bytesCodec and stringCodec', () => {
  it('passes bytes through unchanged', () => {
    const raw = new Uint8Array([0, 1, 2, 255])
    expect(bytesCodec.encode(raw, 't')).toBe(raw)
    expect(bytesCodec.decode(raw, message(raw))).toBe(raw)
    expect(bytesCodec.contentType).toBe('application/octet-stream')
    expect(() => bytesCodec.encode('nope' as unknown as Uint8Array, 't')).toThrow(/Uint8Array/)
  })

  it('round-trips UTF-8 text', () => {
    const encoded = stringCodec.encode('grüße 😀', 't')
    expect(Array.from(encoded)).toEqual(Array.from(bytes('grüße 😀')))
    expect(stringCodec.decode(encoded, message(encoded))).toBe('grüße 😀')
  })
})

describe('schemaCodec', () => {
  const Talent = z.object({ id: z.string(), tags: z.array(z.string()), level: z.number().default(1) })
  const codec = schemaCodec(Talent)

  it('decodes and returns the schema output (defaults applied)', async () => {
    const encoded = codec.encode({ id: 't1', tags: ['a'], level: 2 }, 't')
    const raw = bytes('{"id":"t1","tags":[]}')
    expect(await codec.decode(raw, message(raw))).toEqual({ id: 't1', tags: [], level: 1 })
    expect(await codec.decode(encoded, message(encoded))).toEqual({ id: 't1', tags: ['a'], level: 2 })
    expect(codec.contentType).toBe('application/json')
  })

  it('throws DecodeError listing every issue with its path', async () => {
    const raw = bytes('{"id":5,"tags":["ok",7]}')
    const error = await caught(() => codec.decode(raw, message(raw)))
    expect(isSwitchyardError(error, 'DecodeError')).toBe(true)
    expect(error.reason).toMatch(/^payload failed schema validation: /)
    expect(error.reason).toContain('id: ')
    expect(error.reason).toContain('tags.1: ')
  })

  it('reports a non-JSON payload as a DecodeError from the inner codec', async () => {
    const raw = bytes('<xml/>')
    const error = await caught(() => codec.decode(raw, message(raw)))
    expect(error.reason).toMatch(/^payload is not valid JSON: /)
  })

  it('refuses to encode an invalid value (EncodeError)', async () => {
    const error = await caught(() => codec.encode({ id: 1 } as unknown as z.infer<typeof Talent>, 't'))
    expect(isSwitchyardError(error, 'EncodeError')).toBe(true)
    expect(error.message).toContain('id: ')
  })

  it('awaits an asynchronous schema on decode and refuses it on encode', async () => {
    const Async = z.object({ id: z.string() }).refine(async (v) => v.id !== 'forbidden', 'id is forbidden')
    const asyncCodec = schemaCodec(Async)
    const good = bytes('{"id":"fine"}')
    const bad = bytes('{"id":"forbidden"}')
    expect(await asyncCodec.decode(good, message(good))).toEqual({ id: 'fine' })
    const error = await caught(() => asyncCodec.decode(bad, message(bad)))
    expect(error.reason).toContain('id is forbidden')
    const encodeError = await caught(() => asyncCodec.encode({ id: 'fine' }, 't'))
    expect(encodeError.message).toContain('asynchronously')
  })

  it('works over another inner codec', async () => {
    const upper = schemaCodec(z.string().regex(/^[A-Z]+$/), stringCodec as never)
    const raw = bytes('ABC')
    expect(await upper.decode(raw, message(raw))).toBe('ABC')
    expect(upper.contentType).toBe('text/plain; charset=utf-8')
    const lower = bytes('abc')
    const error = await caught(() => upper.decode(lower, message(lower)))
    expect(error.reason).toContain('(root): ')
  })
})
