/**
 * `MemoryTransport`: the Switchyard `Transport` SPI held entirely in this process.
 *
 * It is the reference model every broker adapter is compared against and what examples and unit
 * tests run on: groups fan out, members of a group compete, per-key order holds, unsettled
 * deliveries come back, nack delays use timers, new groups can replay retained messages. This
 * module owns the SPI surface (validation, lifecycle, `status$`, health, close/drain); the message
 * handling lives in `MemoryBroker`. It does not persist anything or reach other processes.
 */
import {
  type Capabilities,
  type CloseOptions,
  type Delivery,
  type HealthReport,
  type OutgoingMessage,
  type ProvisionOptions,
  StatusSubject,
  type SubscribeOptions,
  type SubscriptionHealth,
  type Transport,
  type TransportStatus,
  validateGroup,
  validateTopic,
} from '@switchyard/core/spi'
import { Observable } from 'rxjs'
import { MemoryBroker } from './broker.js'
import type { Consumer } from './consumer.js'
import { closedError, invalidArgumentError, noReplayError, optionError, transportKind } from './errors.js'
import { type MemoryTransportOptions, resolveOptions } from './options.js'

/** Default `SubscribeOptions.inFlight`. */
export const defaultInFlight = 64
/** Default `CloseOptions.timeoutMs`. */
export const defaultDrainTimeoutMs = 10_000

const done: Promise<void> = Promise.resolve()

/**
 * An in-process transport with broker semantics: topics, groups, competing consumers, per-key
 * order, priorities, nack with requeue or delay, replay for new groups and `*`/`#` patterns.
 * Nothing survives the process; every instance is its own broker.
 *
 * @example
 * const transport = new MemoryTransport()
 * transport.subscribe('orders.created', { group: 'billing' }).subscribe((d) => void d.ack())
 * await transport.publish([{ topic: 'orders.created', id: '1', timestamp: Date.now(), headers: {}, payload }])
 */
export class MemoryTransport implements Transport {
  readonly kind = transportKind
  readonly capabilities: Capabilities
  readonly status$: Observable<TransportStatus>

  readonly #broker: MemoryBroker
  readonly #status = new StatusSubject()
  readonly #consumers = new Set<Consumer>()
  #closing: Promise<void> | undefined

  /** Throws `ConfigError` naming the field when an option is invalid. */
  constructor(options?: MemoryTransportOptions) {
    const resolved = resolveOptions(options)
    this.#broker = new MemoryBroker(resolved)
    this.capabilities = Object.freeze({
      orderedByKey: true,
      persistent: false,
      replay: resolved.retention > 0,
      priority: true,
      patterns: true,
      durableDelay: false,
      maxMessageBytes: Number.isFinite(resolved.maxMessageBytes) ? resolved.maxMessageBytes : undefined,
    })
    this.status$ = this.#status.status$
  }

  /** Marks the transport connected; there is nothing to reach. Rejects once `close()` was called. */
  connect(): Promise<void> {
    if (this.#closing !== undefined) return Promise.reject(closedError('connect'))
    this.#open()
    return done
  }

  /**
   * Stores and routes the messages before resolving; consumers see them from the next microtask.
   * Allowed while a drain is running (handlers may still publish), rejected once closed.
   */
  publish(messages: readonly OutgoingMessage[]): Promise<void> {
    if (!Array.isArray(messages)) {
      return Promise.reject(invalidArgumentError('publish', 'messages', 'must be an array of messages'))
    }
    if (this.#broker.closed) return Promise.reject(closedError('publish', messages[0]?.topic))
    if (this.#status.state === 'idle') this.#open()
    try {
      this.#broker.publish(messages)
    } catch (error) {
      return Promise.reject(error)
    }
    return done
  }

  /** Creates the topic and the group queues now; a pattern may be given to provision pattern groups. */
  provision(topic: string, options: ProvisionOptions = {}): Promise<void> {
    if (this.#closing !== undefined) return Promise.reject(closedError('provision', topic))
    try {
      validateTopic(topic, { allowPatterns: true })
      const groups = options.groups ?? []
      if (!Array.isArray(groups))
        throw optionError('provision options', 'groups', 'must be an array of group names')
      for (const group of groups) validateGroup(group)
      this.#open()
      this.#broker.provision(topic, groups)
    } catch (error) {
      return Promise.reject(error)
    }
    return done
  }

  /** Forgets the topic's retained messages and its group queues (those without consumers), and the given groups. */
  deprovision(topic: string, options: ProvisionOptions = {}): Promise<void> {
    if (this.#closing !== undefined) return Promise.reject(closedError('deprovision', topic))
    try {
      validateTopic(topic, { allowPatterns: true })
      const groups = options.groups ?? []
      for (const group of groups) validateGroup(group)
      this.#broker.deprovision(topic, groups)
    } catch (error) {
      return Promise.reject(error)
    }
    return done
  }

  /**
   * A cold stream of deliveries. Each subscription is one consumer: with a `group` it competes
   * with the group's other consumers for the group's queue (created on first use, kept after the
   * last consumer leaves); without one it gets a private queue that sees messages published after
   * subscribing and is dropped on unsubscribe. `onReady` runs synchronously inside `subscribe`.
   * Errors with `InvalidTopicError`/`ConfigError` for bad arguments and `TransportClosedError`
   * when the transport closes.
   */
  subscribe(topic: string, options: SubscribeOptions = {}): Observable<Delivery> {
    return new Observable<Delivery>((subscriber) => {
      if (this.#closing !== undefined) {
        subscriber.error(closedError('subscribe', topic))
        return
      }
      let settings: { group: string | undefined; inFlight: number; fromBeginning: boolean }
      try {
        settings = this.#checkSubscribe(topic, options)
      } catch (error) {
        subscriber.error(error)
        return
      }
      this.#open()
      const consumer = this.#broker.attach(
        topic,
        settings.group,
        settings.inFlight,
        settings.fromBeginning,
        subscriber,
      )
      this.#consumers.add(consumer)
      const detach = (): void => {
        this.#consumers.delete(consumer)
        this.#broker.detach(consumer)
      }
      try {
        options.onReady?.()
      } catch (error) {
        detach()
        subscriber.error(error)
        return
      }
      return detach
    })
  }

  /** A snapshot; after `close()` it reports `down` / `closed` rather than rejecting. */
  health(): Promise<HealthReport> {
    if (this.#closing === undefined) this.#open()
    const subscriptions: SubscriptionHealth[] = []
    for (const consumer of this.#consumers) {
      const queue = consumer.queue
      subscriptions.push({
        topic: queue.topic,
        group: queue.group,
        inFlight: consumer.count,
        lag: queue.depth + queue.delayed,
        consumers: queue.consumers.length,
      })
    }
    const state = this.#status.state
    return Promise.resolve({
      status: state === 'connected' ? 'up' : 'down',
      kind: transportKind,
      state,
      subscriptions,
      details: { ...this.#broker.stats(), inFlight: this.#broker.inFlight },
      ...(state === 'connected' ? {} : { error: `the transport is ${state}` }),
    })
  }

  /**
   * Closes once (concurrent calls share the same promise). With `drain` (default) no new
   * deliveries start and unsettled ones may still be settled, up to `timeoutMs`; then every
   * subscription errors with `TransportClosedError`, pending delays are cancelled and everything
   * held is forgotten.
   */
  close(options: CloseOptions = {}): Promise<void> {
    if (this.#closing !== undefined) return this.#closing
    const drain = options.drain ?? true
    const timeoutMs = options.timeoutMs ?? defaultDrainTimeoutMs
    if (typeof drain !== 'boolean')
      return Promise.reject(optionError('close options', 'drain', 'must be a boolean'))
    if (!(Number.isFinite(timeoutMs) && timeoutMs >= 0)) {
      return Promise.reject(
        optionError('close options', 'timeoutMs', `must be a number >= 0, got ${timeoutMs}`),
      )
    }
    this.#closing = this.#close(drain, timeoutMs)
    return this.#closing
  }

  async #close(drain: boolean, timeoutMs: number): Promise<void> {
    this.#status.set('closing')
    this.#broker.closing = true
    if (drain) await this.#broker.drain(timeoutMs)
    this.#broker.shutdown()
    const consumers = [...this.#consumers]
    this.#consumers.clear()
    // A deliberate close ends the streams quietly: they complete, they do not error.
    for (const consumer of consumers) consumer.subscriber.complete()
    this.#status.set('closed')
  }

  #checkSubscribe(
    topic: string,
    options: SubscribeOptions,
  ): { group: string | undefined; inFlight: number; fromBeginning: boolean } {
    validateTopic(topic, { allowPatterns: true })
    const group = options.group === undefined ? undefined : validateGroup(options.group)
    const inFlight = options.inFlight ?? defaultInFlight
    if (!(Number.isSafeInteger(inFlight) && inFlight >= 1)) {
      throw optionError('subscribe options', 'inFlight', `must be an integer >= 1, got ${String(inFlight)}`)
    }
    const fromBeginning = options.fromBeginning ?? false
    if (typeof fromBeginning !== 'boolean') {
      throw optionError('subscribe options', 'fromBeginning', 'must be a boolean')
    }
    if (fromBeginning && !this.capabilities.replay) throw noReplayError()
    if (options.onReady !== undefined && typeof options.onReady !== 'function') {
      throw optionError('subscribe options', 'onReady', 'must be a function')
    }
    return { group, inFlight, fromBeginning }
  }

  #open(): void {
    if (this.#status.state === 'idle') this.#status.set('connected')
  }
}

/** Creates a {@link MemoryTransport}; throws `ConfigError` for invalid options. */
export function createMemoryTransport(options?: MemoryTransportOptions): MemoryTransport {
  return new MemoryTransport(options)
}
