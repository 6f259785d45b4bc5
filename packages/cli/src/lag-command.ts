/**
 * `switchyard topics` and `switchyard lag`: `Transport.inspect` printed. Kafka lists every topic
 * and group (lag per partition); memory lists what its broker holds; Redis its prefix's streams and
 * their groups; NATS its stream's subjects and durable consumers; RabbitMQ cannot list queues over
 * AMQP, so it needs a topic and `--group` names and reports their depth and consumers.
 * A transport without `inspect` fails with exit 4 (not supported).
 */
import { CapabilityError, type Inspection, type InspectOptions, type Transport } from '@switchyard/core'
import { openTransport } from './connection.js'
import type { CommandContext } from './context.js'

export interface InspectFlags {
  readonly topic?: string
  readonly groups: readonly string[]
}

/** `transport.inspect(options)`, or `CapabilityError` when the transport cannot tell. */
export function inspectTransport(transport: Transport, options: InspectOptions): Promise<Inspection> {
  if (transport.inspect === undefined) {
    return Promise.reject(
      new CapabilityError(transport.kind, 'listing topics and groups (`Transport.inspect`)', {
        context: { operation: 'inspect' },
      }),
    )
  }
  return transport.inspect(options)
}

function optionsOf(flags: InspectFlags): InspectOptions {
  return {
    ...(flags.topic === undefined ? {} : { topic: flags.topic }),
    ...(flags.groups.length === 0 ? {} : { groups: flags.groups }),
  }
}

async function inspected(ctx: CommandContext, flags: InspectFlags): Promise<Inspection> {
  const connection = await openTransport(ctx.env)
  try {
    return await inspectTransport(connection.transport, optionsOf(flags))
  } finally {
    await connection.close()
  }
}

export async function topicsCommand(ctx: CommandContext, flags: InspectFlags): Promise<void> {
  const { out } = ctx
  const found = await inspected(ctx, flags)
  if (out.json) {
    out.data(found.topics)
    return
  }
  out.table(
    found.topics,
    [
      { header: 'TOPIC', get: (t) => t.name },
      { header: 'PARTITIONS', get: (t) => String(t.partitions ?? '-') },
      { header: 'MESSAGES', get: (t) => String(t.messages ?? '-') },
    ],
    found.complete ? '(no topics)' : '(this transport cannot list topics; see `switchyard lag`)',
  )
}

export async function lagCommand(ctx: CommandContext, flags: InspectFlags): Promise<void> {
  const { out } = ctx
  const found = await inspected(ctx, flags)
  if (out.json) {
    out.data({ complete: found.complete, at: found.at, groups: found.groups })
    return
  }
  const c = out.c
  out.table(
    found.groups,
    [
      { header: 'TOPIC', get: (g) => g.topic },
      { header: 'GROUP', get: (g) => g.group },
      {
        header: 'LAG',
        get: (g) => String(g.lag ?? '-'),
        color: (t, g) => (g.lag === 0 ? c.green(t) : c.yellow(t)),
      },
      { header: 'CONSUMERS', get: (g) => String(g.consumers ?? '-') },
      {
        header: 'PARTITIONS',
        get: (g) => g.partitions?.map((p) => `${p.partition}:${p.lag}`).join(' ') ?? '-',
      },
    ],
    found.complete ? '(no groups)' : '(no queue for these groups on this topic)',
  )
}
