/**
 * `MemoryTransport`: the Switchyard `Transport` held entirely in this process, derived by core's
 * `deriveTransport` from the memory driver.
 *
 * It is the reference model every broker adapter is compared against and what examples and unit
 * tests run on: groups fan out, members of a group compete, per-key order holds, unsettled
 * deliveries come back, nack delays use the broker's timers, new groups can replay retained
 * messages. This module only wires options to the driver; the transport's policy is core's and
 * the broker model is `MemoryBroker`. It does not persist anything or reach other processes.
 */
import { type DeriveOptions, DriverTransport } from '@switchyard/core/spi'
import { asyncScheduler } from 'rxjs'
import { MemoryDriver } from './memory-driver.js'
import { type MemoryTransportOptions, resolveOptions } from './options.js'

/**
 * An in-process transport with broker semantics: topics, groups, competing consumers, per-key
 * order, priorities, nack with requeue or delay, replay for new groups and `*`/`#` patterns.
 * Nothing survives the process; every instance is its own broker.
 *
 * **Details:** `runtime` carries what is not configuration: a `scheduler` for the broker's delay
 * timers and the core's timers (a virtual-time scheduler in tests), and the core's connect and
 * backoff settings.
 *
 * @example
 * const transport = new MemoryTransport()
 * transport.subscribe('orders.created', { group: 'billing' }).subscribe((d) => void d.ack())
 * await transport.publish([{ topic: 'orders.created', id: '1', timestamp: Date.now(), headers: {}, payload }])
 */
export class MemoryTransport extends DriverTransport {
  /** Throws `ConfigError` naming the field when an option is invalid. */
  constructor(options?: MemoryTransportOptions, runtime: DeriveOptions = {}) {
    super(new MemoryDriver(resolveOptions(options), runtime.scheduler ?? asyncScheduler), runtime)
  }
}

/** Creates a {@link MemoryTransport}; throws `ConfigError` for invalid options. */
export function createMemoryTransport(
  options?: MemoryTransportOptions,
  runtime?: DeriveOptions,
): MemoryTransport {
  return new MemoryTransport(options, runtime)
}
