/**
 * `switchyard publish <topic> [payload | @file | -]`: sends one message (or `--count` copies)
 * through a `Bus`, so ids, timestamps and the content type are exactly what an app would write.
 * Resolves only once the broker confirmed every message (the Bus's publish guarantee).
 */
import { Bus, type OutgoingMessage } from '@switchyard/core'
import { openTransport } from './connection.js'
import type { CommandContext } from './context.js'
import { CliError, ExitCode } from './exit-codes.js'
import { codecOf, type PayloadFormat, readPayload } from './payload.js'

export interface PublishFlags {
  readonly key?: string
  readonly header: readonly string[]
  readonly count: number
  readonly format: PayloadFormat
}

/** Messages per `publishBatch` call for `--count`: one broker round trip each. */
const batchSize = 1_000

/** `k=v` pairs into headers; a pair without `=` is a `CliError`. */
export function parseHeaders(pairs: readonly string[]): Record<string, string> {
  const headers: Record<string, string> = {}
  for (const pair of pairs) {
    const eq = pair.indexOf('=')
    if (eq <= 0) {
      throw new CliError(
        `--header ${JSON.stringify(pair)} is not k=v: write it as --header name=value.`,
        ExitCode.badInput,
      )
    }
    headers[pair.slice(0, eq).trim().toLowerCase()] = pair.slice(eq + 1)
  }
  return headers
}

export async function publishCommand(
  ctx: CommandContext,
  topic: string,
  payloadArg: string | undefined,
  flags: PublishFlags,
): Promise<void> {
  const payload = await readPayload(payloadArg, flags.format)
  const headers = parseHeaders(flags.header)
  const connection = await openTransport(ctx.env)
  const ids: string[] = []
  const remember = (message: OutgoingMessage): OutgoingMessage => {
    if (ids.length < 10) ids.push(message.id)
    return message
  }
  const started = performance.now()
  let sent = 0
  try {
    const bus = new Bus(connection.transport, { hooks: { beforePublish: remember } })
    const codec = codecOf(flags.format)
    const entry = { topic, payload, codec, headers, ...(flags.key === undefined ? {} : { key: flags.key }) }
    const progress = !ctx.out.json && flags.count >= 10 * batchSize && process.stderr.isTTY === true
    while (sent < flags.count && !ctx.signal.aborted) {
      const n = Math.min(batchSize, flags.count - sent)
      await bus.publishBatch(Array.from({ length: n }, () => entry))
      sent += n
      if (progress) process.stderr.write(`\r${ctx.out.c.dim(`published ${sent}/${flags.count}`)}`)
    }
    if (progress) process.stderr.write('\n')
  } finally {
    await connection.close()
  }
  const seconds = (performance.now() - started) / 1000
  if (ctx.out.json) {
    ctx.out.data({ topic, published: sent, ids, seconds: Number(seconds.toFixed(3)) })
  } else if (sent === 1) {
    ctx.out.line(
      `${ctx.out.c.green('published')} ${ids[0]} to ${topic}${flags.key ? ` (key ${flags.key})` : ''}`,
    )
  } else {
    const rate = seconds > 0 ? Math.round(sent / seconds) : sent
    ctx.out.line(
      `${ctx.out.c.green('published')} ${sent} messages to ${topic} in ${seconds.toFixed(2)} s (${rate} msg/s)`,
    )
  }
  if (sent < flags.count)
    throw new CliError(`Interrupted after ${sent} of ${flags.count} messages.`, ExitCode.interrupted)
}
