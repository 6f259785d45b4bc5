/**
 * Lag over time for the console's chart: a bounded series of samples per (topic, group), and the
 * chart drawn as an inline SVG polyline. Pure: the sampler feeds it `Inspection`s.
 */
import type { Inspection } from '@switchyard/core'

export interface LagSample {
  readonly at: number
  readonly lag: number
}

/** Keeps the last `limit` samples of every group seen. */
export class LagHistory {
  readonly #limit: number
  readonly #series = new Map<string, LagSample[]>()

  constructor(limit = 120) {
    this.#limit = limit
  }

  add(inspection: Inspection): void {
    for (const g of inspection.groups) {
      if (g.lag === undefined) continue
      const id = `${g.topic} ${g.group}`
      const series = this.#series.get(id) ?? []
      series.push({ at: inspection.at, lag: g.lag })
      if (series.length > this.#limit) series.splice(0, series.length - this.#limit)
      this.#series.set(id, series)
    }
  }

  of(topic: string, group: string): readonly LagSample[] {
    return this.#series.get(`${topic} ${group}`) ?? []
  }
}

/** The latest inspection (or why the last one failed), its history, and who to tell about a new one. */
export class LagSampler {
  readonly history: LagHistory
  readonly #listeners = new Set<() => void>()
  #latest: { readonly inspection?: Inspection; readonly error?: string } = {}

  constructor(history = new LagHistory()) {
    this.history = history
  }

  latest(): { readonly inspection?: Inspection; readonly error?: string } {
    return this.#latest
  }

  /** Calls `listener` after each sample (or failed one); returns the way to stop. */
  onSample(listener: () => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  record(inspection: Inspection): void {
    this.history.add(inspection)
    this.#latest = { inspection }
    this.#notify()
  }

  fail(error: unknown): void {
    this.#latest = { ...this.#latest, error: error instanceof Error ? error.message : String(error) }
    this.#notify()
  }

  #notify(): void {
    for (const listener of this.#listeners) listener()
  }
}

const width = 240
const height = 48

/** The `points` of an SVG polyline for `samples`, scaled to the chart (highest lag at the top). */
export function chartPoints(samples: readonly LagSample[]): string {
  if (samples.length === 0) return ''
  const first = (samples[0] as LagSample).at
  const span = Math.max(1, (samples[samples.length - 1] as LagSample).at - first)
  const top = Math.max(1, ...samples.map((s) => s.lag))
  return samples
    .map((s) => {
      const x = ((s.at - first) / span) * width
      const y = height - (s.lag / top) * (height - 2) - 1
      return `${x.toFixed(1)},${y.toFixed(1)}`
    })
    .join(' ')
}

/** An inline SVG line chart of `samples` (no script, no library). */
export function lagChart(samples: readonly LagSample[], label: string): string {
  const top = Math.max(0, ...samples.map((s) => s.lag))
  const escaped = label.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`)
  return (
    `<svg class="chart" role="img" aria-label="lag of ${escaped}" viewBox="0 0 ${width} ${height}" ` +
    `width="${width}" height="${height}"><title>lag of ${escaped}, max ${top}</title>` +
    `<polyline fill="none" stroke="currentColor" stroke-width="1.5" points="${chartPoints(samples)}"/></svg>`
  )
}
