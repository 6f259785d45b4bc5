/**
 * Type tests of the `Register` topic map, checked by `tsc -p packages/core/tsconfig.json` (never
 * run): a registered topic fixes the payload type of `publish` and `handle`; any other topic stays
 * `unknown`-typed (or typed by its codec / explicit type argument) as before.
 */

import { Bus, type Message, type TopicPayload } from '@switchyard/core'
import { expectTypeOf } from 'vitest'
import { StubTransport } from './stub-transport.js'

interface Order {
  readonly id: string
  readonly total: number
}

declare module '@switchyard/core' {
  interface Register {
    topics: {
      'register-test.orders.created': Order
      'register-test.orders.cancelled': { readonly id: string }
    }
  }
}

const bus = new Bus(new StubTransport())

expectTypeOf<TopicPayload<'register-test.orders.created'>>().toEqualTypeOf<Order>()
expectTypeOf<TopicPayload<'some.other.topic'>>().toEqualTypeOf<unknown>()

void bus.publish('register-test.orders.created', { id: 'o1', total: 3 })
// @ts-expect-error a registered topic checks the payload
void bus.publish('register-test.orders.created', { id: 'o1' })
// @ts-expect-error a registered topic checks the payload's field types
void bus.publish('register-test.orders.cancelled', { id: 1 })

bus.handle('register-test.orders.created', { group: 'g' }, (m) => {
  expectTypeOf(m).toEqualTypeOf<Message<Order>>()
})
// @ts-expect-error the handler must accept the registered payload
bus.handle('register-test.orders.cancelled', {}, (m: Message<{ other: number }>) => m.payload.other)

// Unregistered topics keep the old inference.
void bus.publish('some.other.topic', 42)
bus.handle('some.other.topic', {}, (m) => {
  expectTypeOf(m.payload).toEqualTypeOf<unknown>()
})
bus.handle<{ x: number }>('some.other.topic', {}, (m) => {
  expectTypeOf(m.payload).toEqualTypeOf<{ x: number }>()
})
