/**
 * `uniqueName`: topic, group and key names that never collide between tests or runs.
 *
 * Real brokers keep topics and groups across runs, so every test names its own with a random
 * suffix. Names use only `[a-z0-9.-]`, valid on every transport (see `validateTopic` in core).
 */
import { randomUUID } from 'node:crypto'

/**
 * Returns `<prefix>.<12 random hex chars>`, e.g. `contract.orders.3f9a1c07b2de`.
 *
 * @example
 * const topic = uniqueName('contract.roundtrip')
 * const group = uniqueName('g')
 */
export function uniqueName(prefix: string): string {
  return `${prefix}.${randomUUID().replaceAll('-', '').slice(0, 12)}`
}
