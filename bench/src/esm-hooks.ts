/**
 * Node module-resolution hooks for the worker (registered by `worker.ts` with `module.register`):
 *
 * - `kafkajs` imported from @switchyard/kafka's built files resolves to `kafkajs-named-exports.js`
 *   (see there why) until the adapter imports it in a way plain Node accepts.
 * - `SWITCHYARD_BENCH_OVERRIDE=<package>=<file>[,...]` resolves a package to another build, e.g. a
 *   patched copy of an adapter's dist under bench/dist/, to measure a proposed fix without touching
 *   the package itself. Empty by default.
 */
interface ResolveContext {
  readonly parentURL?: string
}
type NextResolve = (specifier: string, context: ResolveContext) => Promise<{ url: string }>

const shim = new URL('./kafkajs-named-exports.js', import.meta.url).href

const overrides = new Map<string, string>()
for (const entry of (process.env.SWITCHYARD_BENCH_OVERRIDE ?? '').split(',')) {
  const at = entry.indexOf('=')
  if (at > 0) overrides.set(entry.slice(0, at), new URL(`file://${entry.slice(at + 1)}`).href)
}
const kafkaBuilds = ['/packages/kafka/dist/', ...[...overrides.values()].map((u) => u.replace(/[^/]*$/, ''))]

export async function resolve(
  specifier: string,
  context: ResolveContext,
  next: NextResolve,
): Promise<{ url: string; shortCircuit?: boolean }> {
  const override = overrides.get(specifier)
  if (override !== undefined) return { url: override, shortCircuit: true }
  if (specifier === 'kafkajs' && kafkaBuilds.some((dir) => context.parentURL?.includes(dir))) {
    return { url: shim, shortCircuit: true }
  }
  return next(specifier, context)
}
