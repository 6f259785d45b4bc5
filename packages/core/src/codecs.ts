/**
 * Codecs: how the `Bus` turns values into payload bytes and back.
 *
 * - {@link jsonCodec} (the default): UTF-8 JSON, `content-type: application/json`.
 * - {@link bytesCodec}: `Uint8Array` passed through untouched.
 * - {@link stringCodec}: UTF-8 text.
 * - {@link schemaCodec}: any Standard Schema v1 validator (zod 4, valibot, arktype, …) on top of
 *   another codec, validating both on publish and on consume.
 *
 * Codecs throw `EncodeError` (nothing is published) and `DecodeError` (the Bus dead-letters the
 * message with the reason). This module does no I/O and knows nothing about transports.
 */
import type { StandardSchemaV1 } from '@standard-schema/spec'
import { isPromiseLike } from './bus-checks.js'
import type { Codec } from './bus-options.js'
import { DecodeError, EncodeError } from './errors.js'
import type { Message } from './message.js'

const utf8Encoder = new TextEncoder()
/** Node's `Buffer.from(string)` allocates from a pool and is ~3x faster than `TextEncoder` for small payloads. */
const nodeBuffer = (globalThis as { Buffer?: { from(text: string, encoding: 'utf8'): Uint8Array } }).Buffer
const encodeUtf8: (text: string) => Uint8Array = nodeBuffer
  ? (text) => nodeBuffer.from(text, 'utf8')
  : (text) => utf8Encoder.encode(text)
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false })

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

function decodeUtf8(bytes: Uint8Array, message: Message): string {
  try {
    return utf8Decoder.decode(bytes)
  } catch {
    throw new DecodeError(message.topic, 'payload is not valid UTF-8')
  }
}

/**
 * JSON over UTF-8, the Bus default.
 *
 * **Details:** `encode` rejects values JSON cannot carry (a cycle, a BigInt, a top-level
 * `undefined`/function/symbol) with `EncodeError`. `decode` throws `DecodeError` whose `reason`
 * starts with `payload is not valid JSON:` followed by the parser's message.
 *
 * @example
 * const bus = new Bus(transport) // jsonCodec is used unless another codec is given
 */
export const jsonCodec: Codec<unknown> = {
  contentType: 'application/json',
  encode(value: unknown, topic: string): Uint8Array {
    let text: string | undefined
    try {
      text = JSON.stringify(value)
    } catch (error) {
      throw new EncodeError(topic, `JSON.stringify failed: ${reasonOf(error)}`, { cause: error })
    }
    if (text === undefined) {
      throw new EncodeError(topic, `JSON cannot represent a top-level ${typeof value}`)
    }
    return encodeUtf8(text)
  },
  decode(bytes: Uint8Array, message: Message): unknown {
    const text = decodeUtf8(bytes, message)
    try {
      return JSON.parse(text)
    } catch (error) {
      throw new DecodeError(message.topic, `payload is not valid JSON: ${reasonOf(error)}`, { cause: error })
    }
  },
}

/**
 * Raw bytes: the payload is published and delivered exactly as given.
 *
 * @example
 * await bus.publish('images', png, { codec: bytesCodec })
 * bus.consume('images', { codec: bytesCodec }) // Delivery<Uint8Array>
 */
export const bytesCodec: Codec<Uint8Array> = {
  contentType: 'application/octet-stream',
  encode(value: Uint8Array, topic: string): Uint8Array {
    if (!(value instanceof Uint8Array)) {
      throw new EncodeError(topic, `bytesCodec needs a Uint8Array, got ${typeof value}`)
    }
    return value
  },
  decode(bytes: Uint8Array): Uint8Array {
    return bytes
  },
}

/** UTF-8 text (`content-type: text/plain; charset=utf-8`); invalid UTF-8 is a `DecodeError`. */
export const stringCodec: Codec<string> = {
  contentType: 'text/plain; charset=utf-8',
  encode(value: string, topic: string): Uint8Array {
    if (typeof value !== 'string') {
      throw new EncodeError(topic, `stringCodec needs a string, got ${typeof value}`)
    }
    return encodeUtf8(value)
  },
  decode(bytes: Uint8Array, message: Message): string {
    return decodeUtf8(bytes, message)
  },
}

function formatPath(path: StandardSchemaV1.Issue['path']): string {
  if (path === undefined || path.length === 0) return '(root)'
  return path
    .map((segment) => {
      const key = typeof segment === 'object' && segment !== null ? segment.key : segment
      return String(key)
    })
    .join('.')
}

/** Lists Standard Schema issues as `path: message; path: message`. */
export function formatIssues(issues: readonly StandardSchemaV1.Issue[]): string {
  return issues.map((issue) => `${formatPath(issue.path)}: ${issue.message}`).join('; ')
}

/**
 * A codec that validates with a Standard Schema v1 validator (zod 4 implements it) on top of an
 * inner codec (JSON by default).
 *
 * **When to use:** when consumers must never see a payload of the wrong shape, and producers
 * must never publish one.
 *
 * **Details:** `decode` runs the inner codec, then the schema (asynchronous schemas are awaited),
 * and returns the schema's output (so transforms and defaults apply). Invalid payloads throw
 * `DecodeError` listing every issue with its path, and the Bus dead-letters them. `encode`
 * validates the value first and throws `EncodeError` when it is invalid, then encodes the value
 * as given (not the schema's output). Encoding is synchronous, so a schema that only validates
 * asynchronously cannot be used to publish (`EncodeError` says so).
 *
 * @example
 * const Talent = z.object({ id: z.string(), title: z.string() })
 * const codec = schemaCodec(Talent)
 * await bus.publish('talent.registered', { id: '1', title: 'Bass' }, { codec })
 * bus.handle('talent.registered', { group: 'mail', codec }, async (m) => send(m.payload.title))
 */
export function schemaCodec<S extends StandardSchemaV1>(
  schema: S,
  inner: Codec<unknown> = jsonCodec,
): Codec<StandardSchemaV1.InferOutput<S>> {
  const validate = (value: unknown) => schema['~standard'].validate(value)

  const accept = (result: StandardSchemaV1.Result<unknown>, message: Message) => {
    if (result.issues !== undefined) {
      throw new DecodeError(message.topic, `payload failed schema validation: ${formatIssues(result.issues)}`)
    }
    return result.value as StandardSchemaV1.InferOutput<S>
  }

  return {
    contentType: inner.contentType,
    encode(value: StandardSchemaV1.InferOutput<S>, topic: string): Uint8Array {
      const result = validate(value)
      if (isPromiseLike(result)) {
        // Avoid an unhandled rejection from the abandoned validation.
        Promise.resolve(result).catch(() => {})
        throw new EncodeError(
          topic,
          'the schema validates asynchronously, and encoding cannot wait; use a synchronous schema to publish',
        )
      }
      if (result.issues !== undefined) {
        throw new EncodeError(topic, `value failed schema validation: ${formatIssues(result.issues)}`)
      }
      return inner.encode(value, topic)
    },
    decode(bytes: Uint8Array, message: Message) {
      const decoded = inner.decode(bytes, message)
      if (isPromiseLike(decoded)) {
        return Promise.resolve(decoded).then(async (value) => accept(await validate(value), message))
      }
      const result = validate(decoded)
      if (isPromiseLike(result)) return Promise.resolve(result).then((r) => accept(r, message))
      return accept(result, message)
    },
  }
}
