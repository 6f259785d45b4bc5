/**
 * `settleWatch`: an internal channel between the `Bus` and a derived transport's subscription.
 *
 * Where nothing needs decoding (the identity codec, `bytesCodec`), `Bus.consume` hands out the
 * transport's own deliveries instead of wrapping each one; it still has to count their settles
 * for `bus.close()`'s drain, so it passes a watcher under this symbol in the subscribe options and
 * the derived subscription reports to it the first settle of each delivery (once, with the
 * promise the application receives). Not part of the public API: other transports ignore it and
 * the Bus then wraps as usual.
 */
import type { SubscribeOptions } from './transport.js'

export const settleWatch: unique symbol = Symbol('switchyard.settleWatch')

/** Told of the first settle of each delivery of one subscription. */
export interface SettleWatcher {
  settling(settled: Promise<void>): void
}

/** Subscribe options carrying a watcher (internal to core). */
export type WatchedSubscribeOptions = SubscribeOptions & { readonly [settleWatch]?: SettleWatcher }
