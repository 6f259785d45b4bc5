/**
 * `@switchyard/redis`: the Switchyard transport for Redis Streams, on node-redis.
 */
export { redisTransport } from './factory.js'
export type { RedisRetention, RedisTransportOptions, ResolvedRedisOptions } from './options.js'
export { redisOptionsSchema } from './options.js'
export { RedisTransport } from './redis-transport.js'
