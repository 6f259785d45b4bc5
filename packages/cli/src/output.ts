/**
 * What the command prints: aligned tables and coloured labels for people, one JSON document (or
 * one JSON object per line for streams) for scripts, and errors on stderr that say what to do.
 *
 * Colour is on only when stdout is a terminal, `TERM` is not `dumb` and `NO_COLOR` is unset
 * (`FORCE_COLOR` forces it); picocolors does the escaping. Nothing here talks to a broker.
 */
import { isSwitchyardError } from '@switchyard/core'
import pc from 'picocolors'

export type Colors = ReturnType<typeof pc.createColors>

/** Where and how to print; one per run. */
export interface OutputOptions {
  readonly json: boolean
  readonly stdout?: NodeJS.WritableStream & { isTTY?: boolean }
  readonly stderr?: NodeJS.WritableStream
  readonly env?: NodeJS.ProcessEnv
}

function colorEnabled(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true
  return stream.isTTY === true && env.TERM !== 'dumb'
}

/** A column of {@link Output.table}: a header and how to read a row's cell. */
export interface Column<R> {
  readonly header: string
  readonly get: (row: R) => string
  /** Colour a cell after padding (padding counts visible characters only). */
  readonly color?: (text: string, row: R) => string
}

export class Output {
  readonly json: boolean
  readonly c: Colors
  readonly #out: NodeJS.WritableStream
  readonly #err: NodeJS.WritableStream

  constructor(options: OutputOptions) {
    this.json = options.json
    const stdout = options.stdout ?? process.stdout
    this.#out = stdout
    this.#err = options.stderr ?? process.stderr
    this.c = pc.createColors(!options.json && colorEnabled(stdout, options.env ?? process.env))
  }

  /** A line on stdout. */
  line(text = ''): void {
    this.#out.write(`${text}\n`)
  }

  /** A note on stderr (progress, summaries of streaming commands), so stdout stays data only. */
  note(text: string): void {
    this.#err.write(`${text}\n`)
  }

  /** One JSON value on one line of stdout (`--json`); secrets print as `[secret]` through their `toJSON`. */
  data(value: unknown): void {
    this.#out.write(`${JSON.stringify(value)}\n`)
  }

  /** An aligned table with a dim header; `empty` is printed instead when there are no rows. */
  table<R>(rows: readonly R[], columns: readonly Column<R>[], empty = '(none)'): void {
    if (rows.length === 0) {
      this.line(this.c.dim(empty))
      return
    }
    const cells = rows.map((row) => columns.map((col) => oneLine(col.get(row))))
    const widths = columns.map((col, i) =>
      Math.max(col.header.length, ...cells.map((r) => (r[i] as string).length)),
    )
    const last = columns.length - 1
    this.line(
      this.c.dim(
        columns
          .map((col, i) => (i === last ? col.header : col.header.padEnd(widths[i] as number)))
          .join('  '),
      ),
    )
    rows.forEach((row, r) => {
      const line = columns.map((col, i) => {
        const text = cells[r]?.[i] as string
        const padded = i === last ? text : text.padEnd(widths[i] as number)
        return col.color ? col.color(padded, row) : padded
      })
      this.line(line.join('  '))
    })
  }

  /** Prints an error on stderr: its name, message (typed errors already say what to do) and context. */
  error(error: unknown): void {
    if (this.json) {
      const e = error as { name?: string; message?: string; context?: unknown }
      this.#err.write(
        `${JSON.stringify({ error: { name: e?.name ?? 'Error', message: e?.message ?? String(error), context: e?.context } })}\n`,
      )
      return
    }
    const name = (error as { name?: string })?.name ?? 'Error'
    const message = error instanceof Error ? error.message : String(error)
    // A CliError is the command's own: its message is the whole story. Typed errors keep their name.
    const label = name === 'CliError' ? '' : ` ${this.c.bold(name)}:`
    this.#err.write(`${this.c.red(this.c.bold('error'))}${label} ${message}\n`)
    if (isSwitchyardError(error)) {
      const context = Object.entries(error.context).filter(([, v]) => v !== undefined)
      if (context.length > 0) {
        this.#err.write(
          `${this.c.dim(`  ${context.map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ')}`)}\n`,
        )
      }
    }
  }
}

/** A cell on one line: newlines and tabs become spaces. */
function oneLine(text: string): string {
  return text.replace(/[\r\n\t]+/g, ' ')
}

/** `2026-12-03T17:02:11.123Z` for ms since the epoch, or `-`. */
export function isoTime(ms: number | undefined): string {
  return ms === undefined ? '-' : new Date(ms).toISOString()
}

/** `text` cut to `max` characters with an ellipsis. */
export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, Math.max(0, max - 1))}…`
}
