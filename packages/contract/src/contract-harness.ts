/**
 * `ContractHarness`: per-suite state shared by the contract scenarios.
 *
 * It creates transports through the adapter's factory, scales deadlines, names topics and groups
 * uniquely, and tracks everything a test opens (transports, subscriptions, buses) so that one
 * `afterEach` closes it all and nothing leaks into the next test. It is internal to the suite;
 * adapters use the exported helpers (`collect`, `waitFor`, …) in their own tests.
 */
import { Bus, type BusEvent, type Capabilities, type Transport } from '@switchyard/core'
import { type CollectOptions, type Collector, collect } from './collect.js'
import type { ResolvedContractOptions } from './contract-options.js'
import { uniqueName } from './unique-name.js'
import { type WaitForOptions, waitFor } from './wait-for.js'

/** Something a test opened that must be released after it, e.g. a `Bus`. */
export interface Closeable {
  close(): Promise<void>
}

export class ContractHarness {
  readonly name: string
  readonly capabilities: Capabilities
  readonly options: ResolvedContractOptions
  readonly #make: () => Transport | Promise<Transport>
  #transports: Transport[] = []
  #collectors: Collector[] = []
  #closeables: Closeable[] = []
  /** Topics and groups named for the current test: deprovisioned after it. */
  #topics = new Set<string>()
  #groups = new Set<string>()

  constructor(
    name: string,
    capabilities: Capabilities,
    options: ResolvedContractOptions,
    make: () => Transport | Promise<Transport>,
  ) {
    this.name = name
    this.capabilities = capabilities
    this.options = options
    this.#make = make
  }

  /** A deadline of `baseMs` (tuned for memory) scaled for this transport. */
  ms(baseMs: number): number {
    return Math.round(baseMs * this.options.timeScale)
  }

  /**
   * A test timeout of `baseMs` scaled for this transport, capped at 4 minutes so that one hung
   * test cannot hold a real broker for long.
   */
  testTimeout(baseMs: number): number {
    return Math.min(this.ms(baseMs), 240_000)
  }

  /** A unique topic name for one test. */
  topic(label: string): string {
    const topic = uniqueName(`contract.${label}`)
    this.#topics.add(topic)
    return topic
  }

  /** Registers a topic derived from {@link ContractHarness.topic} (e.g. `<topic>.child`) for cleanup. */
  derived(topic: string): string {
    this.#topics.add(topic)
    return topic
  }

  /** A unique group name for one test. */
  group(label = 'g'): string {
    const group = uniqueName(`cg.${label}`)
    this.#groups.add(group)
    return group
  }

  /** A new transport from the adapter's factory, closed after the test. */
  async transport(): Promise<Transport> {
    const transport = await this.#make()
    this.#transports.push(transport)
    return transport
  }

  /**
   * `n` transports on one broker, e.g. `[producer, consumer]`. Distinct instances when the
   * transport claims `persistent` (its instances share a broker); otherwise one instance `n`
   * times, because a non-persistent transport may be a broker of its own.
   */
  async transports(n: number): Promise<[Transport, ...Transport[]]> {
    const first = await this.transport()
    const rest: Transport[] = []
    for (let i = 1; i < n; i++) rest.push(this.capabilities.persistent ? await this.transport() : first)
    return [first, ...rest]
  }

  /** `[producer, consumer]` on one broker; see {@link ContractHarness.transports}. */
  async pair(): Promise<[Transport, Transport]> {
    const [producer, consumer] = await this.transports(2)
    return [producer, consumer ?? producer]
  }

  /** `collect` with a scaled default deadline, stopped after the test. */
  collect(transport: Transport, topic: string, options: CollectOptions = {}): Collector {
    const collector = collect(transport, topic, { timeoutMs: this.ms(5_000), ...options })
    this.#collectors.push(collector)
    return collector
  }

  /** `waitFor` with a scaled default deadline. */
  waitFor(condition: () => boolean | Promise<boolean>, options: WaitForOptions = {}): Promise<void> {
    return waitFor(condition, { timeoutMs: this.ms(5_000), ...options })
  }

  /** Registers something to close after the test, before the transports are closed. */
  track<T extends Closeable>(closeable: T): T {
    this.#closeables.push(closeable)
    return closeable
  }

  /**
   * A `Bus` on `transport`, closed (without draining) after the test. With `events`, every Bus
   * event is pushed to it.
   */
  bus(transport: Transport, events?: BusEvent[]): Bus {
    const bus = new Bus(transport)
    if (events !== undefined) {
      const watching = bus.events$.subscribe((e) => events.push(e))
      this.track({ close: async () => watching.unsubscribe() })
    }
    this.track({ close: () => bus.close({ drain: false }) })
    return bus
  }

  /** Deletes `topics` (with `.dlq` and, where patterns exist, `.*`/`.#`) and `groups` on a new transport. */
  async #deprovision(topics: ReadonlySet<string>, groups: readonly string[]): Promise<void> {
    const transport = await this.#make()
    try {
      for (const topic of topics) {
        const names = [topic, `${topic}.dlq`]
        if (this.capabilities.patterns) names.push(`${topic}.*`, `${topic}.#`)
        for (const name of names) await transport.deprovision(name, { groups })
      }
    } finally {
      await transport.close({ drain: false, timeoutMs: this.ms(5_000) })
    }
  }

  /**
   * Stops collectors, closes tracked objects, closes every transport without draining, then (on a
   * broker that outlives its transports) deprovisions every topic and group the test named, with
   * their dead-letter topics and pattern queues, so that runs leave nothing behind on the broker.
   */
  async cleanup(): Promise<void> {
    const collectors = this.#collectors
    const closeables = this.#closeables
    const transports = this.#transports
    const topics = this.#topics
    const groups = [...this.#groups]
    this.#collectors = []
    this.#closeables = []
    this.#transports = []
    this.#topics = new Set()
    this.#groups = new Set()
    for (const collector of collectors) collector.stop()
    const failures: unknown[] = []
    for (const result of await Promise.allSettled(closeables.map((c) => c.close()))) {
      if (result.status === 'rejected') failures.push(result.reason)
    }
    const closing = transports.map((t) => t.close({ drain: false, timeoutMs: this.ms(5_000) }))
    for (const result of await Promise.allSettled(closing)) {
      if (result.status === 'rejected') failures.push(result.reason)
    }
    if (this.capabilities.persistent && topics.size > 0) {
      try {
        await this.#deprovision(topics, groups)
      } catch (error) {
        failures.push(error)
      }
    }
    if (failures.length > 0) {
      throw new AggregateError(failures, `closing after the test failed: ${failures.map(String).join('; ')}`)
    }
  }
}
