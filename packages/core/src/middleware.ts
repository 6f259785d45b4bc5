/**
 * Handler outcomes and middleware: the shapes through which `Bus.handle` runs a delivery.
 *
 * A handler's run ends in a {@link HandlerOutcome} (data, not a side effect); the Bus settles the
 * delivery from it once the whole middleware chain has returned. A {@link Middleware} wraps the
 * next step of the chain, `(next) => (context) => outcome`, and may act before and after it or
 * change its outcome. This module holds the public types and outcome constructors only; the
 * Bus's own steps (decode, timeout, retry, dead-letter) are in `policy-middleware.ts`.
 */
import type { Delivery, Message } from './message.js'

/**
 * What to do with a delivery once its handler chain is done. The Bus settles from it:
 *
 * - `ack`: done; acknowledged.
 * - `retry`: given back to the broker, delivered again after `delayMs` (attempt + 1). `error` is
 *   the failure that led here, for middleware that report it.
 * - `dead-letter`: published to the dead-letter topic (`topic`, or the Bus rule) with the reason
 *   headers, then acknowledged. A message that already is a dead letter is dropped instead (never
 *   dead-lettered twice).
 * - `drop`: acknowledged without being handled (a `dropped` event says why).
 */
export type HandlerOutcome =
  | { readonly kind: 'ack' }
  | { readonly kind: 'retry'; readonly delayMs: number; readonly error?: Error }
  | { readonly kind: 'dead-letter'; readonly reason: Error; readonly topic?: string }
  | { readonly kind: 'drop'; readonly reason?: Error }

const acked: HandlerOutcome = Object.freeze({ kind: 'ack' })

/**
 * Constructors of {@link HandlerOutcome}s, for middleware.
 *
 * @example
 * const skipTests: Middleware = (next) => (ctx) =>
 *   ctx.raw.headers['x-test'] === 'true' ? Outcome.drop() : next(ctx)
 */
export const Outcome = {
  /** Acknowledge. One shared frozen object: cheap on the hot path. */
  ack: (): HandlerOutcome => acked,
  /** Deliver again after `delayMs` (0: at once). */
  retry: (delayMs = 0, error?: Error): HandlerOutcome =>
    error === undefined ? { kind: 'retry', delayMs } : { kind: 'retry', delayMs, error },
  /** Dead-letter with `reason` (to `topic`, default: the Bus's dead-letter topic rule). */
  deadLetter: (reason: Error, topic?: string): HandlerOutcome =>
    topic === undefined ? { kind: 'dead-letter', reason } : { kind: 'dead-letter', reason, topic },
  /** Acknowledge without handling. */
  drop: (reason?: Error): HandlerOutcome =>
    reason === undefined ? { kind: 'drop' } : { kind: 'drop', reason },
} as const

/**
 * What a middleware sees of one delivery. One object per delivery, shared by every step.
 *
 * **Details:** `raw` is the message as delivered (payload bytes); `message` is the decoded view,
 * set by the decode step (so `undefined` before `next` in middleware outside decode, which all
 * user middleware is). `signal` aborts on timeout or a stop that gives up waiting; reading it
 * creates its `AbortController`, so read it only when needed. Never settle `delivery` yourself:
 * return an outcome instead.
 */
export interface HandleContext {
  /** The topic (or pattern) passed to `handle`; `raw.topic` is the topic the message came from. */
  readonly topic: string
  readonly group: string | undefined
  /** 1-based delivery attempt (`raw.attempt`). */
  readonly attempt: number
  /** The raw delivered message (payload bytes, headers, id, key, timestamp). */
  readonly raw: Message<Uint8Array>
  /** The decoded message, once the decode step ran. */
  readonly message: Message<unknown> | undefined
  /** The raw delivery, for transport details; the Bus settles it from the outcome. */
  readonly delivery: Delivery
  /** Aborted when the per-message timeout passes or `stop()` gives up waiting for this handler. */
  readonly signal: AbortSignal
}

/** The rest of the chain from one middleware's point of view. May throw or reject: the retry step turns errors into outcomes. */
export type NextHandler = (context: HandleContext) => HandlerOutcome | Promise<HandlerOutcome>

/**
 * Wraps the next step of a handler chain. Built once per `handle` (not per message).
 *
 * **When to use:** cross-cutting concerns around every handler call: tracing spans, metrics,
 * logging, idempotency checks, custom routing of failures.
 *
 * **Details:** user middleware runs OUTSIDE the Bus's own steps. The order, outermost first:
 * `BusOptions.middleware` (array order), `HandleOptions.middleware` (array order), dead-letter
 * routing, retry, decode, timeout, the handler; then the Bus settles from the outcome. So a user
 * middleware sees the final outcome (`retry` with the error, `dead-letter` with the reason) and
 * may replace it. Call `next` at most once. An error escaping the whole chain is treated as
 * `retry` after 1 s (never lost).
 * Keep synchronous paths synchronous: return `next(ctx)` unchanged when you do not need to wait.
 *
 * @example
 * const timing: Middleware = (next) => async (ctx) => {
 *   const started = performance.now()
 *   const outcome = await next(ctx)
 *   histogram.record(performance.now() - started, { topic: ctx.raw.topic, outcome: outcome.kind })
 *   return outcome
 * }
 * const bus = new Bus(transport, { middleware: [timing] })
 */
export type Middleware = (next: NextHandler) => NextHandler

/** Wraps `inner` in `middleware`, the first one outermost. */
export function compose(middleware: readonly Middleware[], inner: NextHandler): NextHandler {
  let chain = inner
  for (let i = middleware.length - 1; i >= 0; i--) chain = (middleware[i] as Middleware)(chain)
  return chain
}
