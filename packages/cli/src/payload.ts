/**
 * Payloads at the command line: reading what `publish` sends (`text`, `@file`, `-` for stdin)
 * and showing what `tail` and `dlq` read, decoded by the message's content type.
 */
import { readFile } from 'node:fs/promises'
import { bytesCodec, type Codec, jsonCodec, SwitchyardHeaders, stringCodec } from '@switchyard/core'
import { CliError, ExitCode } from './exit-codes.js'

/** How `publish` encodes a payload: JSON (the Bus default), UTF-8 text, or raw bytes. */
export type PayloadFormat = 'json' | 'text' | 'bytes'

/** The Bus codec of a format. */
export function codecOf(format: PayloadFormat): Codec<unknown> {
  if (format === 'text') return stringCodec as Codec<unknown>
  if (format === 'bytes') return bytesCodec as Codec<unknown>
  return jsonCodec
}

async function readStdin(stdin: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk)
  return Buffer.concat(chunks)
}

/**
 * The value to publish from the `payload` argument: literal text, `@path` (a file) or `-` (stdin),
 * parsed as JSON for `json`. A missing file or JSON that does not parse is a `CliError` (exit 2)
 * that names the source and the fix.
 */
export async function readPayload(
  arg: string | undefined,
  format: PayloadFormat,
  stdin: NodeJS.ReadableStream = process.stdin,
): Promise<unknown> {
  let bytes: Buffer
  let source: string
  if (arg === undefined || arg === '-') {
    source = 'stdin'
    bytes = await readStdin(stdin)
  } else if (arg.startsWith('@')) {
    const path = arg.slice(1)
    source = `file ${path}`
    try {
      bytes = await readFile(path)
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      throw new CliError(
        `Cannot read payload ${source}: ${code === 'ENOENT' ? 'no such file' : (error as Error).message}. ` +
          'Give an existing file after @, a literal payload, or - for stdin.',
        ExitCode.badInput,
        { cause: error },
      )
    }
  } else {
    source = 'argument'
    bytes = Buffer.from(arg, 'utf8')
  }
  if (format === 'bytes') return new Uint8Array(bytes)
  const text = bytes.toString('utf8')
  if (format === 'text') return text
  try {
    return JSON.parse(text)
  } catch (error) {
    throw new CliError(
      `The payload from ${source} is not valid JSON (${(error as Error).message}). ` +
        'Fix it, or pass --format text (UTF-8 string) or --format bytes (raw) to send it as it is.',
      ExitCode.badInput,
      { cause: error },
    )
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

/** A payload as shown to people and scripts: a JSON value, text, or base64 for binary. */
export type ShownPayload =
  | { readonly encoding: 'json'; readonly value: unknown }
  | { readonly encoding: 'text'; readonly value: string }
  | { readonly encoding: 'base64'; readonly value: string }

/**
 * Decodes `bytes` by the `content-type` header: JSON for `application/json` (and `+json`), text
 * for `text/*` and for anything that is valid UTF-8, base64 otherwise. Never throws: JSON that
 * does not parse is shown as text.
 */
export function showPayload(bytes: Uint8Array, headers: Readonly<Record<string, string>>): ShownPayload {
  const type = (headers[SwitchyardHeaders.contentType] ?? '').toLowerCase()
  let text: string
  try {
    text = utf8.decode(bytes)
  } catch {
    return { encoding: 'base64', value: Buffer.from(bytes).toString('base64') }
  }
  if (type.startsWith('application/octet-stream')) {
    return { encoding: 'base64', value: Buffer.from(bytes).toString('base64') }
  }
  if (type.startsWith('application/json') || /\+json\b/.test(type)) {
    try {
      return { encoding: 'json', value: JSON.parse(text) }
    } catch {
      return { encoding: 'text', value: text }
    }
  }
  return { encoding: 'text', value: text }
}

/** One-line rendering of a shown payload. */
export function payloadText(shown: ShownPayload): string {
  if (shown.encoding === 'json') return JSON.stringify(shown.value)
  if (shown.encoding === 'base64') return `base64:${shown.value}`
  return shown.value
}
