/**
 * `switchyard tail <topic|pattern>`: prints messages as they arrive without taking them from
 * anyone. It subscribes without a group (an ephemeral subscription: Kafka a fresh consumer group
 * of its own, RabbitMQ an exclusive auto-delete queue, memory a private queue), so every group
 * of the app still receives everything; it acks only its own copies.
 *
 * `--from-beginning` needs the `replay` capability: it reads through a throwaway group created
 * for this run (`switchyard-cli-tail-<uuid>`), deleted again on exit. Without the capability it
 * fails with `CapabilityError` (exit 4) before subscribing.
 */
import { randomUUID } from 'node:crypto'
import { CapabilityError, type Delivery, type Message } from '@switchyard/core'
import type { Subscription } from 'rxjs'
import { openTransport } from './connection.js'
import { aborted, type CommandContext } from './context.js'
import { isoTime } from './output.js'
import { payloadText, showPayload } from './payload.js'

export interface TailFlags {
  readonly count?: number
  readonly fromBeginning: boolean
}

/** The JSON line `tail --json` prints per message. */
export function messageRecord(message: Message): Record<string, unknown> {
  return {
    topic: message.topic,
    id: message.id,
    key: message.key ?? null,
    attempt: message.attempt,
    timestamp: isoTime(message.timestamp),
    headers: message.headers,
    payload: showPayload(message.payload, message.headers),
  }
}

export async function tailCommand(ctx: CommandContext, topic: string, flags: TailFlags): Promise<void> {
  const { out } = ctx
  const connection = await openTransport(ctx.env)
  const { transport } = connection
  const group = flags.fromBeginning ? `switchyard-cli-tail-${randomUUID()}` : undefined
  let seen = 0
  let subscription: Subscription | undefined
  try {
    if (flags.fromBeginning && !transport.capabilities.replay) {
      throw new CapabilityError(transport.kind, 'replay (`--from-beginning`)', {
        context: { topic, operation: 'tail --from-beginning' },
      })
    }
    const done = new Promise<void>((resolve, reject) => {
      const print = (delivery: Delivery): void => {
        const m = delivery.message
        if (out.json) {
          out.data(messageRecord(m))
        } else {
          const c = out.c
          out.line(
            `${c.dim(isoTime(m.timestamp))} ${c.cyan(m.topic)} ${c.bold(m.id)}` +
              `${m.key === undefined ? '' : ` key=${c.yellow(m.key)}`} attempt=${m.attempt}`,
          )
          const headers = Object.entries(m.headers)
          if (headers.length > 0) out.line(c.dim(`  ${headers.map(([k, v]) => `${k}=${v}`).join(' ')}`))
          out.line(`  ${payloadText(showPayload(m.payload, m.headers))}`)
        }
      }
      subscription = transport
        .subscribe(topic, {
          ...(group === undefined ? {} : { group, fromBeginning: true }),
          // On stderr even with --json, so scripts can wait for it while stdout stays data only.
          onReady: () => out.note(out.c.dim(`tailing ${topic} on ${transport.kind} (Ctrl-C to stop)`)),
        })
        .subscribe({
          next: (delivery) => {
            if (flags.count !== undefined && seen >= flags.count) return
            seen++
            print(delivery)
            // Our own copy only: an ephemeral subscription (or a throwaway group) takes nothing from anyone.
            delivery.ack().catch(() => undefined)
            if (flags.count !== undefined && seen >= flags.count) resolve()
          },
          error: reject,
          complete: resolve,
        })
      aborted(ctx.signal).then(resolve)
    })
    await done
  } finally {
    subscription?.unsubscribe()
    await transport.whenDetached?.()
    if (group !== undefined) await transport.deprovision(topic, { groups: [group] }).catch(() => undefined)
    await connection.close()
  }
}
