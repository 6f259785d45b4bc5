/**
 * `decodeDeliveries`: the RxJS operator behind `Bus.consume`, turning raw deliveries into decoded
 * ones in arrival order.
 *
 * A payload the codec rejects is dead-lettered with the reason, then acked, and a
 * `decode-failed` event is emitted; it is never passed on and never errors the stream. Async
 * codecs are awaited without reordering. Internal to core; no retry or handler logic here.
 */
import { Observable, type OperatorFunction } from 'rxjs'
import { asDecodeError, isPromiseLike } from './bus-checks.js'
import type { Codec } from './bus-options.js'
import { type BusRuntime, withPayload } from './bus-runtime.js'
import type { DecodeError } from './errors.js'
import type { Delivery, Message, NackOptions } from './message.js'

/** How long to wait before trying again when the dead-letter publish itself fails. */
const deadLetterRetryDelayMs = 1000

/** A decoded view of a raw delivery; settling goes to the raw one. */
class DecodedDelivery<T> implements Delivery<T> {
  readonly message: Message<T>
  readonly #raw: Delivery

  constructor(message: Message<T>, raw: Delivery) {
    this.message = message
    this.#raw = raw
  }

  get settled(): boolean {
    return this.#raw.settled
  }

  ack(): Promise<void> {
    return this.#raw.ack()
  }

  nack(options?: NackOptions): Promise<void> {
    return this.#raw.nack(options)
  }
}

/** Decodes each delivery with `codec`, dead-lettering those that fail (see module doc). */
export function decodeDeliveries<T>(
  runtime: BusRuntime,
  codec: Codec<T>,
  group: string | undefined,
  deadLetterTopic: string | undefined,
): OperatorFunction<Delivery, Delivery<T>> {
  const rejected = (raw: Delivery, error: DecodeError): void => {
    if (runtime.observed) runtime.emit({ type: 'decode-failed', message: raw.message, error })
    let topic: string
    try {
      topic = runtime.deadLetterTopicFor(raw.message.topic, deadLetterTopic)
    } catch {
      // Only a custom `deadLetterTopic` rule can produce an invalid name: give the message back.
      void runtime.settle(raw, group, 'nack', deadLetterRetryDelayMs)
      return
    }
    const now = runtime.scheduler.now()
    void runtime.deadLetter(raw, group, topic, error, raw.message.attempt, now, deadLetterRetryDelayMs)
  }

  return (source) =>
    new Observable<Delivery<T>>((subscriber) => {
      // The last asynchronous decode still running; later deliveries queue behind it.
      let tail: Promise<void> | undefined

      const step = (raw: Delivery): Promise<void> | undefined => {
        let decoded: T | Promise<T>
        try {
          decoded = codec.decode(raw.message.payload, raw.message)
        } catch (thrown) {
          rejected(raw, asDecodeError(thrown, raw.message))
          return undefined
        }
        if (isPromiseLike<T>(decoded)) {
          return Promise.resolve(decoded).then(
            (value) => subscriber.next(new DecodedDelivery(withPayload(raw.message, value), raw)),
            (thrown: unknown) => rejected(raw, asDecodeError(thrown, raw.message)),
          )
        }
        subscriber.next(new DecodedDelivery(withPayload(raw.message, decoded), raw))
        return undefined
      }

      const track = (running: Promise<void>): void => {
        const settled: Promise<void> = running.then(() => {
          if (tail === settled) tail = undefined
        })
        tail = settled
      }

      return source.subscribe({
        next(raw) {
          if (runtime.observed) runtime.emit({ type: 'delivered', message: raw.message, group })
          if (tail === undefined) {
            const running = step(raw)
            if (running !== undefined) track(running)
          } else {
            track(tail.then(() => step(raw)))
          }
        },
        error(error: unknown) {
          if (tail === undefined) subscriber.error(error)
          else void tail.then(() => subscriber.error(error))
        },
        complete() {
          if (tail === undefined) subscriber.complete()
          else void tail.then(() => subscriber.complete())
        },
      })
    })
}
