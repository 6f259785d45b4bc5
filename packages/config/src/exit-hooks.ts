/**
 * Best-effort release of held leases when the process ends, so locks and leadership pass on at
 * once instead of after the lease TTL.
 *
 * On SIGINT/SIGTERM every tracked lease is revoked (bounded to one second); if no other listener
 * handles the signal, the signal is then re-raised so the process still ends as it would have.
 * On a natural exit (`beforeExit`) leases are revoked too. A crash or SIGKILL cannot run code:
 * then the lease simply expires after its TTL. This module owns no other process behaviour.
 */
import type { LeaseGrant } from './lease-queue.js'

const held = new Set<LeaseGrant>()
let installed = false

const revokeAll = async (): Promise<void> => {
  const grants = [...held]
  held.clear()
  await Promise.race([
    Promise.allSettled(grants.map((g) => g.revoke())),
    new Promise((resolve) => setTimeout(resolve, 1000).unref()),
  ])
}

const onSignal = (signal: NodeJS.Signals): void => {
  const alone = process.listenerCount(signal) === 1
  void revokeAll().finally(() => {
    if (alone) {
      process.removeListener(signal, onSignal)
      process.kill(process.pid, signal)
    }
  })
}

const install = (): void => {
  if (installed) return
  installed = true
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  process.on('beforeExit', () => {
    if (held.size > 0) void revokeAll()
  })
}

/** Tracks a lease until the returned function is called. */
export function trackLease(grant: LeaseGrant): () => void {
  install()
  held.add(grant)
  return () => {
    held.delete(grant)
  }
}
