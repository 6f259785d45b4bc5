/**
 * `KafkaTransport`: the Switchyard `Transport` for Apache Kafka, derived by core's
 * `deriveTransport` from {@link KafkaDriver} (kafkajs) or, with `client: 'platformatic'`, from
 * `PlatformaticDriver` (`@platformatic/kafka`, loaded only then).
 *
 * This module only wires options to the driver and the core: the broker mapping is the driver's,
 * the transport's policy (validation, in-flight limits, drain, status, reconnect, delay) is core's.
 * It does not retry, dead-letter or decode: the `Bus` in `@switchyard/core` does that on top.
 */
import { type DeriveOptions, DriverTransport } from '@switchyard/core/spi'
import type { Kafka as KafkaClient } from 'kafkajs'
import { KafkaDriver } from './kafka-driver.js'
import { type KafkaTransportOptions, resolveKafkaOptions } from './options.js'
import { loadPlatformatic } from './platformatic-client.js'
import { PlatformaticDriver } from './platformatic-driver.js'

/**
 * A `Transport` over Apache Kafka. See the package README for the mapping, commit semantics,
 * delay strategy and guarantees.
 *
 * **Details:** `runtime` carries what is not broker configuration (the core's scheduler and
 * backoff). The core's connect timeout defaults to `connectionTimeoutMs`, so an unreachable
 * broker is reported within it.
 *
 * @example
 * const transport = new KafkaTransport({ brokers: ['127.0.0.1:9092'], clientId: 'billing' })
 * await transport.publish([{ topic: 'orders', id, timestamp: Date.now(), headers: {}, payload }])
 */
export class KafkaTransport extends DriverTransport {
  /**
   * The raw kafkajs client, as an escape hatch (its admin, producers and consumers are separate).
   * With `client: 'platformatic'` it is the kafkajs client the transport uses for admin work.
   */
  readonly client: KafkaClient

  /**
   * Throws `ConfigError` naming the field when an option is invalid, and (`client: 'platformatic'`)
   * when this Node is older than `@platformatic/kafka` needs or the package is not installed.
   */
  constructor(options: KafkaTransportOptions, runtime: DeriveOptions = {}) {
    const resolved = resolveKafkaOptions(options)
    const driver =
      resolved.client === 'platformatic'
        ? new PlatformaticDriver(resolved, loadPlatformatic())
        : new KafkaDriver(resolved, options.compressionCodecs)
    // A group subscription that does not set `fromBeginning` gets the `fromBeginning` option.
    super(driver, {
      connectTimeoutMs: resolved.connectionTimeoutMs,
      subscribeDefaults: { fromBeginning: resolved.fromBeginning },
      ...runtime,
    })
    this.client = driver.client
  }
}
