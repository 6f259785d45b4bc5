/**
 * `collect`: subscribe to a transport and record every delivery, for assertions.
 *
 * A `Collector` keeps deliveries in arrival order, settles them as told (ack at once, hold, or a
 * callback), remembers settle failures and the stream's end instead of letting them escape as
 * unhandled rejections, and offers condition waits that fail fast when the stream errored.
 * It is a test helper: it buffers without bound and is not a consumer for production.
 */
import type { Delivery, SubscribeOptions, Transport } from '@switchyard/core'
import type { Subscription } from 'rxjs'
import { waitFor } from './wait-for.js'

/**
 * What a collector does with each delivery: `ack` at once (default), `hold` it unsettled (settle
 * it yourself from `collector.deliveries`), or call a function that settles it.
 */
export type SettleMode = 'ack' | 'hold' | ((delivery: Delivery, collector: Collector) => unknown)

/** Subscribe options plus what the collector does with deliveries. */
export interface CollectOptions extends SubscribeOptions {
  readonly settle?: SettleMode
  /** Default deadline of the collector's waits in ms (default 5,000). */
  readonly timeoutMs?: number
}

/** Deliveries of one subscription, recorded for assertions. See {@link collect}. */
export interface Collector {
  readonly topic: string
  readonly group: string | undefined
  /** Every delivery in arrival order, redeliveries included. */
  readonly deliveries: readonly Delivery[]
  /** Distinct message ids seen. */
  readonly ids: ReadonlySet<string>
  /** Resolves on `onReady`; rejects if the stream ends first or `timeoutMs` passes. */
  readonly ready: Promise<void>
  /** The error the stream ended with, if it did. */
  readonly error: unknown
  /** True once the stream errored or completed. */
  readonly ended: boolean
  /** Errors from `ack`/`nack` or from the settle callback (none expected in a healthy run). */
  readonly settleErrors: readonly unknown[]
  /** Deliveries not settled yet. */
  unsettled(): Delivery[]
  /** How many times a message id was delivered. */
  count(id: string): number
  /** Waits until `n` deliveries (redeliveries included) arrived. */
  waitForDeliveries(n: number, timeoutMs?: number): Promise<void>
  /** Waits until `n` distinct ids arrived. */
  waitForIds(n: number, timeoutMs?: number): Promise<void>
  /** Waits until a delivery satisfying `predicate` arrived and returns the first such. */
  waitForDelivery(
    predicate: (delivery: Delivery) => boolean,
    what: string,
    timeoutMs?: number,
  ): Promise<Delivery>
  /** Waits until the stream errored or completed. */
  waitForEnd(timeoutMs?: number): Promise<void>
  /** Unsubscribes (unsettled deliveries go back to the broker). Idempotent. */
  stop(): void
}

/**
 * Subscribes to `topic` on `transport` and records what arrives.
 *
 * **When to use**: in transport tests that count, order-check or hold deliveries.
 *
 * @example
 * const c = collect(transport, topic, { group: 'g', timeoutMs: 10_000 })
 * await c.ready
 * await transport.publish(messages)
 * await c.waitForIds(messages.length)
 */
export function collect(transport: Transport, topic: string, options: CollectOptions = {}): Collector {
  const { settle = 'ack', timeoutMs: defaultTimeout = 5_000, ...subscribeOptions } = options
  const deliveries: Delivery[] = []
  const ids = new Set<string>()
  const counts = new Map<string, number>()
  const settleErrors: unknown[] = []
  let error: unknown
  let ended = false
  let subscription: Subscription | undefined
  let stopped = false
  let markReady!: () => void
  let failReady!: (reason: unknown) => void
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve
    failReady = reject
  })
  ready.catch(() => {})
  const readyTimer = setTimeout(
    () =>
      failReady(
        new Error(`onReady of the subscription to ${topic} was not called within ${defaultTimeout} ms`),
      ),
    defaultTimeout,
  )
  ready.then(
    () => clearTimeout(readyTimer),
    () => clearTimeout(readyTimer),
  )

  const describeState = (): string =>
    `${topic}${subscribeOptions.group === undefined ? '' : ` (group ${subscribeOptions.group})`}: ` +
    `${deliveries.length} deliveries, ${ids.size} distinct ids${ended ? `, stream ended${error === undefined ? '' : ` with ${String(error)}`}` : ''}`

  const failIfEnded = (): void => {
    if (error !== undefined) {
      throw new Error(`the subscription to ${topic} errored: ${String(error)}`, { cause: error })
    }
  }

  const collector: Collector = {
    topic,
    group: subscribeOptions.group,
    deliveries,
    ids,
    ready,
    get error() {
      return error
    },
    get ended() {
      return ended
    },
    settleErrors,
    unsettled: () => deliveries.filter((d) => !d.settled),
    count: (id) => counts.get(id) ?? 0,
    waitForDeliveries: (n, timeoutMs = defaultTimeout) =>
      waitFor(
        () => {
          failIfEnded()
          return deliveries.length >= n
        },
        { timeoutMs, description: () => `${n} deliveries on ${describeState()}` },
      ),
    waitForIds: (n, timeoutMs = defaultTimeout) =>
      waitFor(
        () => {
          failIfEnded()
          return ids.size >= n
        },
        { timeoutMs, description: () => `${n} distinct ids on ${describeState()}` },
      ),
    waitForDelivery: async (predicate, what, timeoutMs = defaultTimeout) => {
      let found: Delivery | undefined
      await waitFor(
        () => {
          failIfEnded()
          found = deliveries.find(predicate)
          return found !== undefined
        },
        { timeoutMs, description: () => `${what} on ${describeState()}` },
      )
      return found as Delivery
    },
    waitForEnd: (timeoutMs = defaultTimeout) =>
      waitFor(() => ended, { timeoutMs, description: () => `the end of the stream on ${describeState()}` }),
    stop: () => {
      stopped = true
      subscription?.unsubscribe()
      failReady(new Error(`the subscription to ${topic} was stopped before it was ready`))
    },
  }

  const onDelivery = (delivery: Delivery): void => {
    deliveries.push(delivery)
    ids.add(delivery.message.id)
    counts.set(delivery.message.id, (counts.get(delivery.message.id) ?? 0) + 1)
    if (settle === 'hold') return
    try {
      const result = settle === 'ack' ? delivery.ack() : settle(delivery, collector)
      if (result instanceof Promise) result.catch((e: unknown) => settleErrors.push(e))
    } catch (e) {
      settleErrors.push(e)
    }
  }

  subscription = transport
    .subscribe(topic, {
      ...subscribeOptions,
      onReady: () => {
        markReady()
        subscribeOptions.onReady?.()
      },
    })
    .subscribe({
      next: onDelivery,
      error: (e: unknown) => {
        error = e
        ended = true
        failReady(e)
      },
      complete: () => {
        ended = true
        failReady(new Error(`the subscription to ${topic} completed before it was ready`))
      },
    })
  if (stopped) subscription.unsubscribe()
  return collector
}

/** Number of deliveries in `deliveries` that were redeliveries by attempt count (`attempt > 1`). */
export function countRedeliveries(deliveries: readonly Delivery[]): number {
  return deliveries.filter((d) => d.message.attempt > 1).length
}
