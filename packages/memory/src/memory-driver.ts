/**
 * `MemoryDriver`: the memory broker behind the core's driver SPI.
 *
 * It maps the SPI's primitives onto `MemoryBroker` and nothing else: validation, size checks,
 * in-flight limits, drain, settle-once and status are the derived transport's (`deriveTransport`
 * in `@switchyard/core/spi`). Two features are native here because the broker model needs them:
 * per-key order across a group's competing consumers (the group queue holds a key back while a
 * message of it is unsettled) and broker-held delay (the queue keeps a delayed message on a timer
 * of the given scheduler, without holding its key back).
 */
import type {
  Capabilities,
  ConsumeSpec,
  DeliverySink,
  DriverConsumer,
  DriverFeatures,
  Inspection,
  InspectOptions,
  OutgoingMessage,
  TransportDriver,
} from '@switchyard/core/spi'
import type { SchedulerLike } from 'rxjs'
import { MemoryBroker } from './broker.js'
import { transportKind } from './errors.js'
import type { ResolvedOptions } from './options.js'

const done: Promise<void> = Promise.resolve()

/** The driver of the in-memory transport; every instance is a broker of its own. */
export class MemoryDriver implements TransportDriver {
  readonly kind = transportKind
  readonly capabilities: Capabilities
  readonly features: DriverFeatures = { keyOrder: true, delay: true }
  readonly #broker: MemoryBroker

  constructor(options: ResolvedOptions, scheduler: SchedulerLike) {
    this.#broker = new MemoryBroker(options.retention, scheduler)
    this.capabilities = {
      orderedByKey: true,
      persistent: false,
      replay: options.retention > 0,
      priority: true,
      patterns: true,
      durableDelay: false,
      maxMessageBytes: Number.isFinite(options.maxMessageBytes) ? options.maxMessageBytes : undefined,
    }
  }

  /** Nothing to reach: connected at once, synchronously. */
  connect(): undefined {
    return undefined
  }

  /** Stores and routes synchronously (so `undefined`); consumers see the messages from the next microtask. */
  publish(messages: readonly OutgoingMessage[]): undefined {
    this.#broker.publish(messages)
  }

  provision(topic: string, groups: readonly string[]): Promise<void> {
    this.#broker.provision(topic, groups)
    return done
  }

  deprovision(topic: string, groups: readonly string[] | undefined): Promise<void> {
    this.#broker.deprovision(topic, groups)
    return done
  }

  /** Attaches synchronously and reports ready at once. `ordered` is a no-op: order per key always holds. */
  consume(topic: string, spec: ConsumeSpec, sink: DeliverySink): DriverConsumer {
    const consumer = this.#broker.attach(topic, spec.group, spec.prefetch, spec.fromBeginning, sink)
    sink.ready()
    return consumer
  }

  inspect(options: InspectOptions): Omit<Inspection, 'at'> {
    return this.#broker.inspect(options.topic, options.groups)
  }

  health(): Readonly<Record<string, unknown>> {
    return { ...this.#broker.stats(), inFlight: this.#broker.inFlight }
  }

  close(): Promise<void> {
    this.#broker.shutdown()
    return done
  }
}
