/**
 * Type tests of middleware and outcomes, checked by `tsc -p packages/core/tsconfig.json` (never
 * run): a middleware maps a `NextHandler` to a `NextHandler`, outcomes are a union discriminated
 * on `kind`, and returning anything else is a type error.
 */
import { expectTypeOf } from 'vitest'
import {
  Bus,
  type HandleContext,
  type HandlerOutcome,
  type Middleware,
  type NextHandler,
  Outcome,
} from '../index.js'
import { StubTransport } from './stub-transport.js'

expectTypeOf<Middleware>().toEqualTypeOf<(next: NextHandler) => NextHandler>()
expectTypeOf<ReturnType<NextHandler>>().toEqualTypeOf<HandlerOutcome | Promise<HandlerOutcome>>()
expectTypeOf(Outcome.retry(5)).toEqualTypeOf<HandlerOutcome>()

const narrowing: Middleware = (next) => async (ctx: HandleContext) => {
  expectTypeOf(ctx.raw.payload).toEqualTypeOf<Uint8Array>()
  expectTypeOf(ctx.signal).toEqualTypeOf<AbortSignal>()
  const outcome = await next(ctx)
  if (outcome.kind === 'retry') expectTypeOf(outcome.delayMs).toEqualTypeOf<number>()
  if (outcome.kind === 'dead-letter') expectTypeOf(outcome.reason).toEqualTypeOf<Error>()
  return outcome
}

// @ts-expect-error a middleware must return an outcome, not a bare value
const wrong: Middleware = (next) => (ctx) => {
  void next(ctx)
  return 'ok'
}

// @ts-expect-error outcome kinds are a closed set
const unknownKind: HandlerOutcome = { kind: 'nack' }

new Bus(new StubTransport(), { middleware: [narrowing] }).handle('t', { middleware: [narrowing] }, () => {})
void wrong
void unknownKind
