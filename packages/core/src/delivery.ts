/**
 * `createDelivery`: the settle-once `Delivery` every adapter hands out.
 *
 * Adapters supply the broker-side `ack` and `nack`; this module makes settling idempotent,
 * validates nack options, turns settling after close into `TransportClosedError`, and makes
 * settling after the subscription ended a no-op (the broker already took the delivery back).
 * It is part of the SPI (`@switchyard/core/spi`), not of the application API.
 */
import { ConfigError, TransportClosedError } from './errors.js'
import type { Delivery, Message, NackOptions } from './message.js'

/** Broker-side settlement, called at most once per delivery. */
export interface DeliverySettler {
  /** Transport kind for error messages. */
  readonly transport: string
  ack(): Promise<void>
  /** `options.requeue` is always set; `delayMs` is set only when > 0. */
  nack(options: { readonly requeue: boolean; readonly delayMs?: number }): Promise<void>
  /** True once the transport is closed: settling then rejects. */
  isClosed(): boolean
  /** True once the subscription ended: settling then does nothing. */
  isDetached(): boolean
}

/** Checks and normalises nack options; throws `ConfigError` for a negative or non-finite delay. */
export function normaliseNack(options: NackOptions = {}): { requeue: boolean; delayMs?: number } {
  const { delayMs } = options
  if (delayMs !== undefined && !(Number.isFinite(delayMs) && delayMs >= 0)) {
    throw new ConfigError('nack options', [`delayMs must be a finite number >= 0, got ${String(delayMs)}`], {
      context: { field: 'delayMs' },
    })
  }
  if (delayMs !== undefined && delayMs > 0) return { requeue: true, delayMs }
  return { requeue: options.requeue ?? true }
}

const done: Promise<void> = Promise.resolve()

class SettleOnceDelivery<T> implements Delivery<T> {
  #settled = false
  readonly message: Message<T>
  readonly #settler: DeliverySettler

  constructor(message: Message<T>, settler: DeliverySettler) {
    this.message = message
    this.#settler = settler
  }

  get settled(): boolean {
    return this.#settled
  }

  ack(): Promise<void> {
    const refused = this.#begin('ack')
    if (refused !== undefined) return refused
    try {
      return this.#settler.ack()
    } catch (error) {
      return Promise.reject(error)
    }
  }

  nack(options?: NackOptions): Promise<void> {
    let normalised: ReturnType<typeof normaliseNack>
    try {
      normalised = normaliseNack(options)
    } catch (error) {
      return Promise.reject(error)
    }
    const refused = this.#begin('nack')
    if (refused !== undefined) return refused
    try {
      return this.#settler.nack(normalised)
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /**
   * Marks the delivery settled, or returns the promise to answer with instead of settling at the
   * broker: resolved when already settled or detached, rejected when the transport is closed.
   */
  #begin(operation: 'ack' | 'nack'): Promise<void> | undefined {
    if (this.#settled) return done
    if (this.#settler.isClosed()) {
      return Promise.reject(
        new TransportClosedError(`${operation} a delivery`, {
          context: { transport: this.#settler.transport, topic: this.message.topic },
        }),
      )
    }
    this.#settled = true
    if (this.#settler.isDetached()) return done
    return undefined
  }
}

/** Wraps a broker delivery so that it settles once. */
export function createDelivery<T = Uint8Array>(message: Message<T>, settler: DeliverySettler): Delivery<T> {
  return new SettleOnceDelivery(message, settler)
}
