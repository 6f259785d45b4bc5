/**
 * `RedisTransport`: the Switchyard `Transport` on Redis Streams, derived by core's
 * `deriveTransport` from `RedisDriver`. Wires options to the driver and the core (connect timeout,
 * backoff) and exposes the escape hatch; the mapping is `redis-driver.ts`, documented in the README.
 */
import { connectionDefaults, type DeriveOptions, DriverTransport } from '@switchyard/core/spi'
import type { Client } from './connection.js'
import { type RedisTransportOptions, resolveRedisOptions } from './options.js'
import { RedisDriver } from './redis-driver.js'

/**
 * The Redis Streams transport.
 *
 * **When to use**: services that already run Redis (≥ 6.2, for `XAUTOCLAIM`) and want Switchyard's
 * `Bus` or raw SPI with durable consumer groups, without running Kafka or RabbitMQ.
 *
 * **Details**: one stream per topic (`<prefix><topic>`), one consumer group per Switchyard group,
 * a private cursor per subscription without a group. Claims `persistent` (only as true as the
 * server's AOF/RDB settings: see `health().details.persistence`) and `replay`; not
 * `orderedByKey` (ask for `ordered`: one active consumer per group), `patterns`, `priority` or
 * `durableDelay` (delays are held in process by the core).
 *
 * @example
 * const transport = new RedisTransport({ url: 'redis://127.0.0.1:6379', prefix: 'billing:' })
 * const bus = new Bus(transport)
 */
export class RedisTransport extends DriverTransport {
  readonly #driver: RedisDriver

  /** Throws `ConfigError` naming every invalid or unknown option. */
  constructor(options: RedisTransportOptions = {}, runtime: DeriveOptions = {}) {
    const resolved = resolveRedisOptions(options)
    const driver = new RedisDriver(resolved)
    super(driver, connectionDefaults(runtime, resolved))
    this.#driver = driver
  }

  /**
   * Escape hatch: the live node-redis command connection (`undefined` while disconnected). Use it
   * for your own commands; do not close it, and do not block on it (`BLOCK`, `BLPOP`).
   */
  get client(): Client | undefined {
    return this.#driver.client
  }

  /** The stream key of `topic` (`<prefix><topic>`). */
  streamKey(topic: string): string {
    return this.#driver.streamKey(topic)
  }
}
