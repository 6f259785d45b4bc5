/**
 * `RabbitMqTransport`: the Switchyard `Transport` on RabbitMQ, derived by core's
 * `deriveTransport` from `RabbitMqDriver`.
 *
 * This module only wires options to the driver and the core: the connect timeout and backoff
 * come from the options, `prefetch` is the default `inFlight`, and `connection`/`naming` are the
 * escape hatches. Semantics are the SPI's (`@switchyard/core`); the broker mapping is
 * `rabbitmq-driver.ts`, documented in this package's README.
 */
import { connectionDefaults, type DeriveOptions, DriverTransport } from '@switchyard/core/spi'
import type { ChannelModel } from 'amqplib'
import type { Naming } from './naming.js'
import { type RabbitMqTransportOptions, resolveOptions } from './options.js'
import { RabbitMqDriver } from './rabbitmq-driver.js'

/**
 * The RabbitMQ transport.
 *
 * **When to use**: services on RabbitMQ that want Switchyard's `Bus` (or the raw SPI) with
 * durable group queues, pattern subscriptions, priorities and broker-held delays.
 *
 * **Details**: one durable topic exchange per naming prefix (routing key = topic); a durable
 * queue per (topic or pattern, group); an exclusive auto-delete queue per subscription without a
 * group; publisher confirms on persistent messages; after a reconnection the topology is declared
 * again and every subscription resumes. Claims `persistent`, `patterns`, `durableDelay`, and
 * `priority` when `queueDefaults.maxPriority` is set; not `orderedByKey` (ask for `ordered`
 * subscriptions: single active consumer) nor `replay`. `runtime` carries what is not broker
 * configuration (a scheduler, or the core's connect timeout and backoff instead of the options').
 *
 * @example
 * const transport = new RabbitMqTransport({ url: 'amqp://app:secret@127.0.0.1:5672/billing' })
 * const bus = new Bus(transport)
 */
export class RabbitMqTransport extends DriverTransport {
  readonly #driver: RabbitMqDriver

  /** Throws `ConfigError` naming every invalid or unknown option. */
  constructor(options: RabbitMqTransportOptions = {}, runtime: DeriveOptions = {}) {
    const resolved = resolveOptions(options)
    const driver = new RabbitMqDriver(resolved)
    super(driver, {
      ...connectionDefaults(runtime, resolved),
      subscribeDefaults: { inFlight: resolved.prefetch },
    })
    this.#driver = driver
  }

  /**
   * Escape hatch: the live amqplib connection (`undefined` while disconnected). Channels you open
   * on it are yours to close; do not close the connection itself.
   */
  get connection(): ChannelModel | undefined {
    return this.#driver.connection
  }

  /** The names this transport gives its exchanges and queues (see the README's topology section). */
  get naming(): Naming {
    return this.#driver.naming
  }
}
