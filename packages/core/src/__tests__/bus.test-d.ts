/**
 * Type tests of the Bus API, checked by `tsc -p packages/core/tsconfig.json` (never run): the
 * codec decides the payload type of publish, consume and handle.
 */
import { z } from 'zod'
import { Bus, bytesCodec, type Delivery, schemaCodec, stringCodec } from '../index.js'
import { StubTransport } from './stub-transport.js'

const bus = new Bus(new StubTransport())
const codec = schemaCodec(z.object({ id: z.string(), n: z.number().default(0) }))

bus.handle('t', { codec }, (m) => m.payload.id.toUpperCase() + m.payload.n.toFixed())
bus.handle<{ x: number }>('t', {}, (m) => m.payload.x + 1)
const bytes: import('rxjs').Observable<Delivery<Uint8Array>> = bus.consume('t', { codec: bytesCodec })
void bytes
void bus.publish('t', { id: 'x', n: 1 }, { codec })
void bus.publish('t', 'text', { codec: stringCodec })
// @ts-expect-error the payload does not match the codec
void bus.publish('t', { id: 1 }, { codec })
// @ts-expect-error stringCodec publishes strings only
void bus.publish('t', 42, { codec: stringCodec })
