/**
 * `@switchyard/redis`: the Switchyard transport for Redis Streams, on node-redis.
 */
export type { RedisCommandClient, RedisDedupStoreOptions } from './dedup-store.js'
export { RedisDedupStore } from './dedup-store.js'
export { redisTransport } from './factory.js'
export type { RedisRetention, RedisTransportOptions, ResolvedRedisOptions } from './options.js'
export { redisOptionsSchema } from './options.js'
export { RedisTransport } from './redis-transport.js'
