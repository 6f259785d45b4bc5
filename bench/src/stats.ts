/**
 * Median and spread of repeated measurements, and number formatting for the tables.
 * Pure functions; no I/O.
 */

export interface Spread {
  readonly median: number
  readonly min: number
  readonly max: number
  readonly n: number
}

export function spread(values: readonly number[]): Spread | undefined {
  if (values.length === 0) return undefined
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  const median =
    sorted.length % 2 === 1
      ? (sorted[mid] as number)
      : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
  return { median, min: sorted[0] as number, max: sorted.at(-1) as number, n: sorted.length }
}

/** 1234567 → "1,234,567"; small values keep 3 significant digits. */
export function formatRate(value: number): string {
  if (value >= 100) return Math.round(value).toLocaleString('en-US')
  return value.toPrecision(3)
}

export function formatSpread(s: Spread | undefined, format: (v: number) => string = formatRate): string {
  if (s === undefined) return 'n/a'
  if (s.n === 1) return format(s.median)
  return `${format(s.median)} (${format(s.min)}–${format(s.max)})`
}

/** Microseconds, shown in µs below 1 ms and in ms above. */
export function formatMicros(us: number): string {
  if (us < 1000) return `${us < 10 ? us.toFixed(1) : Math.round(us)} µs`
  if (us < 100_000) return `${(us / 1000).toFixed(2)} ms`
  return `${Math.round(us / 1000)} ms`
}

export function formatRatio(ratio: number | undefined): string {
  return ratio === undefined || !Number.isFinite(ratio) ? 'n/a' : ratio.toFixed(2)
}
