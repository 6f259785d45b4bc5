/**
 * Node module-resolution hooks for the worker (registered by `worker.ts` with `module.register`):
 *
 * - `SWITCHYARD_BENCH_OVERRIDE=<package>=<file>[,...]` resolves a package to another build, e.g. a
 *   patched copy of an adapter's dist under bench/dist/, to measure a proposed fix without touching
 *   the package itself. Empty by default.
 */
interface ResolveContext {
  readonly parentURL?: string
}
type NextResolve = (specifier: string, context: ResolveContext) => Promise<{ url: string }>

const overrides = new Map<string, string>()
for (const entry of (process.env.SWITCHYARD_BENCH_OVERRIDE ?? '').split(',')) {
  const at = entry.indexOf('=')
  if (at > 0) overrides.set(entry.slice(0, at), new URL(`file://${entry.slice(at + 1)}`).href)
}

export async function resolve(
  specifier: string,
  context: ResolveContext,
  next: NextResolve,
): Promise<{ url: string; shortCircuit?: boolean }> {
  const override = overrides.get(specifier)
  if (override !== undefined) return { url: override, shortCircuit: true }
  return next(specifier, context)
}
