/**
 * The Switchyard side's consumer, shared by the three transports: `Bus.consume` with the in-flight
 * limit set to the concurrency. Concurrency 1 acknowledges synchronously in `subscribe` (the
 * simplest correct consumer); higher concurrency runs an asynchronous handler that does nothing
 * and acks when it resolves, inside `mergeMap(…, concurrency)`, as the `Bus` documentation shows.
 * (Acking synchronously inside the mergeMap project would free the in-flight slot before mergeMap
 * frees its own, so a transport that emits synchronously would fill mergeMap's unbounded buffer.)
 * The raw sides mirror both shapes.
 */
import type { Bus, ConsumeOptions, Delivery } from '@switchyard/core'
import { mergeMap, type Subscription } from 'rxjs'
import type { ConsumerHandle } from './client.js'

/** The "handler": asynchronous, no work. */
const handled: Promise<void> = Promise.resolve()

let reported = false
function ackFailed(error: unknown): void {
  if (reported) return
  reported = true
  process.stderr.write(`ack failed: ${error instanceof Error ? error.message : String(error)}\n`)
}

/** Subscribes and resolves once the transport reports the subscription ready. */
export function consumeWithBus(
  bus: Bus,
  topic: string,
  options: ConsumeOptions<Uint8Array>,
  concurrency: number,
  onMessage: (payload: Uint8Array) => void,
): Promise<ConsumerHandle> {
  return new Promise((resolve, reject) => {
    let subscription: Subscription | undefined
    const handle: ConsumerHandle = { stop: async () => subscription?.unsubscribe() }
    const stream = bus.consume<Uint8Array>(topic, {
      ...options,
      inFlight: concurrency,
      onReady: () => resolve(handle),
    })
    subscription =
      concurrency === 1
        ? stream.subscribe({
            next: (delivery: Delivery<Uint8Array>) => {
              onMessage(delivery.message.payload)
              delivery.ack().catch(ackFailed)
            },
            error: reject,
          })
        : stream
            .pipe(
              mergeMap(
                (delivery) =>
                  handled.then(() => {
                    onMessage(delivery.message.payload)
                    return delivery.ack()
                  }),
                concurrency,
              ),
            )
            .subscribe({ error: reject })
  })
}
