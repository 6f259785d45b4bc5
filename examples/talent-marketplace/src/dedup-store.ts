/**
 * Where the notifications service remembers which registrations it already handled: the store of
 * its `dedupe` middleware, chosen once per app when it starts (`startMarketplace`).
 *
 * On Redis the store is `RedisDedupStore` on the transport's own connection, so every
 * notifications process of the group shares one memory of handled ids (and a restart keeps it);
 * on any other transport it is `MemoryDedupStore`, which covers one process (a re-sent copy that
 * reaches another process, or arrives after a restart, is handled again). With several processes
 * on Kafka, RabbitMQ or NATS, give them a shared store (Redis, a table) the same way.
 */
import { type DedupStore, MemoryDedupStore, type Transport } from '@switchyard/core'
import { RedisDedupStore, RedisTransport } from '@switchyard/redis'
import type { InjectionToken } from 'tsyringe'

export const DEDUP_STORE: InjectionToken<DedupStore> = Symbol('talent-marketplace.DedupStore')

/** Prefix of the Redis keys (`marketplace:dedup:<group>:<message id>`); they expire by themselves. */
export const redisDedupPrefix = 'marketplace:dedup:'

/** The store for an app on `transport` (before it connects). */
export function dedupStoreFor(transport: Transport): DedupStore {
  if (!(transport instanceof RedisTransport)) return new MemoryDedupStore()
  return new RedisDedupStore({
    prefix: redisDedupPrefix,
    // The transport's live connection (it replaces it after a reconnect); never closed here.
    client: {
      sendCommand: (args) =>
        transport.client?.sendCommand(args) ?? Promise.reject(new Error('redis: not connected')),
    },
  })
}
