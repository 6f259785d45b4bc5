/**
 * `decodeDeliveries`: the RxJS operator behind `Bus.consume`, turning raw deliveries into decoded
 * ones in arrival order.
 *
 * It uses the same decode step as `handle` (`decodePayload`) and settles a payload the codec
 * rejects with the same `dead-letter` outcome (`BusRuntime.settleOutcome`): dead-lettered with the
 * reason, then acked, after a `decode-failed` event; never passed on, never an error of the
 * stream. The stream completes (rather than errors) when the transport ends it with
 * `TransportClosedError`, i.e. was closed on purpose. A message that already is a dead letter is dropped instead of dead-lettered again.
 * Async codecs are awaited without reordering. Each stream has a `ConsumeDrain`, so that
 * `bus.close()` can stop it gracefully: hand out nothing more, wait for the handed-out deliveries
 * to be settled, then complete. Internal to core; no retry or handler logic here.
 */
import { Observable, type OperatorFunction, type Subscription } from 'rxjs'
import { isPromiseLike } from './bus-checks.js'
import type { Codec, ConsumeStream } from './bus-options.js'
import { type BusRuntime, withPayload } from './bus-runtime.js'
import { ConsumeDrain } from './consume-drain.js'
import { normaliseNack } from './delivery.js'
import { isSwitchyardError, toError } from './errors.js'
import type { Delivery, Message, NackOptions } from './message.js'
import { Outcome } from './middleware.js'
import { decodeFailure, decodePayload } from './policy-middleware.js'
import type { SettleWatcher } from './settle-watch.js'

/** A decoded view of a raw delivery; settling goes to the raw one and is counted for the drain. */
class DecodedDelivery<T> implements Delivery<T> {
  readonly message: Message<T>
  // Truly private: the application holds this object, and only settling it may reach the raw one.
  readonly #raw: Delivery
  readonly #drain: ConsumeDrain
  #counted = false

  constructor(message: Message<T>, raw: Delivery, drain: ConsumeDrain) {
    this.message = message
    this.#raw = raw
    this.#drain = drain
  }

  get settled(): boolean {
    return this.#raw.settled
  }

  ack(): Promise<void> {
    const settled = this.#raw.ack()
    if (!this.#counted) {
      this.#counted = true
      this.#drain.settling(settled)
    }
    return settled
  }

  nack(options?: NackOptions): Promise<void> {
    // Refused options leave the delivery unsettled: not counted, so a drain keeps waiting for it.
    try {
      normaliseNack(options)
    } catch (error) {
      return Promise.reject(error)
    }
    const settled = this.#raw.nack(options)
    if (!this.#counted) {
      this.#counted = true
      this.#drain.settling(settled)
    }
    return settled
  }
}

/** Decodes each delivery with `codec`, dead-lettering those that fail (see module doc). */
export function decodeDeliveries<T>(
  runtime: BusRuntime,
  codec: Codec<T>,
  stream: ConsumeStream,
  deadLetterTopic: string | undefined,
): OperatorFunction<Delivery, Delivery<T>> {
  const group = stream.group
  return (source) =>
    new Observable<Delivery<T>>((subscriber) => {
      const handOut = runtime.consumeChain((d) => subscriber.next(d as Delivery<T>), stream)
      // The last asynchronous decode still running; later deliveries queue behind it.
      let tail: Promise<void> | undefined
      let upstream: Subscription | undefined
      const drain = new ConsumeDrain(runtime, () => {
        upstream?.unsubscribe()
        subscriber.complete()
      })

      const emit = (raw: Delivery, value: T): void => {
        // Draining: leave it unsettled; the unsubscribe at the end gives it back to the broker.
        if (drain.draining) return
        drain.handedOut()
        const message = raw.message
        // An identity codec (`bytesCodec`) returns the payload itself: the message as delivered
        // is then already the decoded one, and copying it would only repeat the same fields.
        const decoded =
          (value as unknown) === message.payload ? (message as Message<T>) : withPayload(message, value)
        handOut(new DecodedDelivery(decoded, raw, drain) as Delivery<unknown>)
      }

      const rejected = (raw: Delivery, thrown: unknown): void => {
        drain.handedOut()
        drain.settling(
          runtime.settleOutcome(raw, group, Outcome.deadLetter(toError(thrown), deadLetterTopic)),
        )
      }

      const step = (raw: Delivery): Promise<void> | undefined => {
        let decoded: T | PromiseLike<T>
        try {
          decoded = decodePayload(runtime, codec, raw.message)
        } catch (thrown) {
          rejected(raw, thrown)
          return undefined
        }
        if (isPromiseLike<T>(decoded)) {
          return Promise.resolve(decoded).then(
            (value) => emit(raw, value),
            (thrown: unknown) => rejected(raw, decodeFailure(runtime, raw.message, thrown)),
          )
        }
        emit(raw, decoded)
        return undefined
      }

      const track = (running: Promise<void>): void => {
        const settled: Promise<void> = running.then(() => {
          if (tail === settled) tail = undefined
        })
        tail = settled
      }

      upstream = source.subscribe({
        next(raw) {
          if (drain.draining) return
          if (runtime.observed) runtime.emit({ type: 'delivered', message: raw.message, group })
          if (tail === undefined) {
            const running = step(raw)
            if (running !== undefined) track(running)
          } else {
            track(tail.then(() => step(raw)))
          }
        },
        error(error: unknown) {
          // A transport closed on purpose ends its streams with TransportClosedError: complete then.
          const end = isSwitchyardError(error, 'TransportClosedError')
            ? () => subscriber.complete()
            : () => subscriber.error(error)
          if (tail === undefined) end()
          else void tail.then(end)
        },
        complete() {
          if (tail === undefined) subscriber.complete()
          else void tail.then(() => subscriber.complete())
        },
      })
      return () => {
        drain.detach()
        upstream?.unsubscribe()
      }
    })
}

/**
 * `Bus.consume` where nothing needs decoding (the identity codec) over a derived transport: the
 * transport's own deliveries are handed out as they are, one object less per message, and their
 * settles reach the drain through the `settleWatch` channel (`subscribe` gets the watcher). The
 * rest is `decodeDeliveries` without the decode step: the `delivered` event, the drain, and
 * completing (not erroring) when the transport was closed on purpose.
 */
export function passDeliveries(
  runtime: BusRuntime,
  stream: ConsumeStream,
  subscribe: (watcher: SettleWatcher) => Observable<Delivery>,
): Observable<Delivery> {
  const group = stream.group
  return new Observable<Delivery>((subscriber) => {
    const handOut = runtime.consumeChain((d) => subscriber.next(d as Delivery), stream)
    let upstream: Subscription | undefined
    const drain = new ConsumeDrain(runtime, () => {
      upstream?.unsubscribe()
      subscriber.complete()
    })
    upstream = subscribe(drain).subscribe({
      next(delivery) {
        // Draining: leave it unsettled; the unsubscribe at the end gives it back to the broker.
        if (drain.draining) return
        if (runtime.observed) runtime.emit({ type: 'delivered', message: delivery.message, group })
        drain.handedOut()
        handOut(delivery as Delivery<unknown>)
      },
      error(error: unknown) {
        if (isSwitchyardError(error, 'TransportClosedError')) subscriber.complete()
        else subscriber.error(error)
      },
      complete() {
        subscriber.complete()
      },
    })
    return () => {
      drain.detach()
      upstream?.unsubscribe()
    }
  })
}
