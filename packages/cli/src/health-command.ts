/**
 * `switchyard health`: connects and prints `transport.health()`: status, state, capabilities and
 * the adapter's details. Exit 0 when `up`, 3 when the broker cannot be reached (connect fails).
 */
import { openTransport } from './connection.js'
import type { CommandContext } from './context.js'

export async function healthCommand(ctx: CommandContext): Promise<void> {
  const { out } = ctx
  const connection = await openTransport(ctx.env)
  try {
    const report = await connection.transport.health()
    const capabilities = connection.transport.capabilities
    if (out.json) {
      out.data({ ...report, capabilities })
      return
    }
    const c = out.c
    const status = report.status === 'up' ? c.green : report.status === 'degraded' ? c.yellow : c.red
    out.line(
      `${c.bold(report.kind)} ${status(report.status)} (${report.state})${report.error ? ` ${c.red(report.error)}` : ''}`,
    )
    const width = Math.max(14, ...Object.keys(report.details).map((k) => k.length + 2))
    const claimed = Object.entries(capabilities)
      .filter(([, v]) => v === true)
      .map(([k]) => k)
    out.line(`${c.dim('capabilities'.padEnd(width))}${claimed.join(', ') || '-'}`)
    if (capabilities.maxMessageBytes !== undefined) {
      out.line(`${c.dim('max message'.padEnd(width))}${capabilities.maxMessageBytes} bytes`)
    }
    for (const [k, v] of Object.entries(report.details)) {
      out.line(`${c.dim(k.padEnd(width))}${typeof v === 'string' ? v : JSON.stringify(v)}`)
    }
  } finally {
    await connection.close()
  }
}
