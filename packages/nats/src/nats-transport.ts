/**
 * `NatsTransport`: the Switchyard `Transport` on NATS JetStream, derived by core's
 * `deriveTransport` from `NatsDriver`.
 *
 * This module only wires options to the driver and the core: the connect timeout and backoff come
 * from the options, `prefetch` is the default `inFlight`, and `connection` is the escape hatch.
 * Semantics are the SPI's (`@switchyard/core`); the broker mapping is `nats-driver.ts`,
 * documented in this package's README.
 */
import type { NatsConnection } from '@nats-io/transport-node'
import { connectionDefaults, type DeriveOptions, DriverTransport } from '@switchyard/core/spi'
import { NatsDriver } from './nats-driver.js'
import { type NatsTransportOptions, resolveOptions } from './options.js'

/**
 * The NATS JetStream transport.
 *
 * **When to use**: services on NATS (2.9 or later, JetStream enabled) that want Switchyard's `Bus`
 * (or the raw SPI) with durable groups, replay for new groups, pattern subscriptions and
 * server-held delays.
 *
 * **Details**: one stream per naming prefix (`<prefix>`, subjects `<prefix>.>`); topic ↔ subject;
 * group ↔ durable pull consumer; no group ↔ a private consumer from new messages. Claims
 * `persistent`, `replay`, `patterns` and `durableDelay` (with file storage); not `orderedByKey`
 * (ask for `ordered` subscriptions) nor `priority`. `runtime` carries what is not broker
 * configuration (a scheduler, or the core's connect timeout and backoff instead of the options').
 *
 * @example
 * const transport = new NatsTransport({ servers: ['127.0.0.1:4222'] })
 * const bus = new Bus(transport)
 */
export class NatsTransport extends DriverTransport {
  readonly #driver: NatsDriver

  /** Throws `ConfigError` naming every invalid or unknown option. */
  constructor(options: NatsTransportOptions = {}, runtime: DeriveOptions = {}) {
    const resolved = resolveOptions(options)
    const driver = new NatsDriver(resolved)
    super(driver, {
      ...connectionDefaults(runtime, resolved),
      subscribeDefaults: { inFlight: resolved.prefetch },
    })
    this.#driver = driver
  }

  /**
   * Escape hatch: the live NATS connection (`undefined` while disconnected). Use it for what
   * Switchyard does not map (request-reply, KV); do not close it.
   */
  get connection(): NatsConnection | undefined {
    return this.#driver.connection
  }
}
