/**
 * `toAsyncIterable`: an Observable read with `for await`, one value at a time.
 *
 * Values that arrive while the reader is busy wait in a queue; the Bus's streams bound it by
 * their in-flight limit (a delivery stays unsettled until the reader settles it, so the transport
 * stops sending). Leaving the loop (`break`, `return`, a throw) unsubscribes; an error of the
 * stream is thrown from the loop; completion ends it. One `next()` at a time is expected (as
 * `for await` does). Internal to core.
 */
import type { Observable, Subscription } from 'rxjs'

type Waiter<T> = {
  readonly resolve: (result: IteratorResult<T>) => void
  readonly reject: (error: unknown) => void
}

const finished: IteratorResult<never> = Object.freeze({ done: true, value: undefined })

/** Reads `source` with `for await` (see module doc). Subscribes when iteration starts. */
export function toAsyncIterable<T>(source: Observable<T>): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<T> {
      const queue: T[] = []
      let waiter: Waiter<T> | undefined
      let done = false
      let failure: { readonly error: unknown } | undefined
      const take = (): Waiter<T> | undefined => {
        const w = waiter
        waiter = undefined
        return w
      }
      const subscription: Subscription = source.subscribe({
        next(value) {
          const w = take()
          if (w === undefined) queue.push(value)
          else w.resolve({ done: false, value })
        },
        error(error: unknown) {
          done = true
          const w = take()
          if (w === undefined) failure = { error }
          else w.reject(error)
        },
        complete() {
          done = true
          take()?.resolve(finished)
        },
      })
      return {
        next(): Promise<IteratorResult<T>> {
          if (queue.length > 0) return Promise.resolve({ done: false, value: queue.shift() as T })
          if (failure !== undefined) {
            const { error } = failure
            failure = undefined
            return Promise.reject(error)
          }
          if (done) return Promise.resolve(finished)
          return new Promise((resolve, reject) => {
            waiter = { resolve, reject }
          })
        },
        return(): Promise<IteratorResult<T>> {
          done = true
          failure = undefined
          queue.length = 0
          subscription.unsubscribe()
          take()?.resolve(finished)
          return Promise.resolve(finished)
        },
      }
    },
  }
}
