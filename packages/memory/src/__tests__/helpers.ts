/**
 * Test helpers for the memory transport's own tests: unique names, outgoing messages, a
 * recording consumer and a deadline-bounded wait. Not part of the package.
 */
import { randomUUID } from 'node:crypto'
import type {
  Delivery,
  DeriveOptions,
  OutgoingMessage,
  SubscribeOptions,
  Transport,
} from '@switchyard/core/spi'
import type { Subscription } from 'rxjs'
import { afterEach } from 'vitest'
import { MemoryTransport, type MemoryTransportOptions } from '../index.js'

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** A unique topic or group name. */
export function unique(label: string): string {
  return `${label}.${randomUUID().slice(0, 8)}`
}

/** An outgoing message whose payload is `text`. */
export function message(
  topic: string,
  text: string,
  extra: { key?: string; priority?: number; headers?: Record<string, string> } = {},
): OutgoingMessage {
  return {
    topic,
    payload: encoder.encode(text),
    id: randomUUID(),
    timestamp: Date.now(),
    headers: extra.headers ?? {},
    ...(extra.key === undefined ? {} : { key: extra.key }),
    ...(extra.priority === undefined ? {} : { priority: extra.priority }),
  }
}

/** The payload of a delivery as text. */
export function text(delivery: Delivery): string {
  return decoder.decode(delivery.message.payload)
}

/** Records deliveries without settling them; tests settle by hand. */
export interface Recorder {
  readonly deliveries: Delivery[]
  readonly unsettled: () => Delivery[]
  readonly texts: () => string[]
  error: unknown
  /** True once the stream completed. */
  completed: boolean
  readonly subscription: Subscription
}

export function record(transport: Transport, topic: string, options: SubscribeOptions = {}): Recorder {
  const deliveries: Delivery[] = []
  const recorder: Recorder = {
    deliveries,
    unsettled: () => deliveries.filter((d) => !d.settled),
    texts: () => deliveries.map(text),
    error: undefined,
    completed: false,
    subscription: undefined as unknown as Subscription,
  }
  ;(recorder as { subscription: Subscription }).subscription = transport.subscribe(topic, options).subscribe({
    next: (d) => void deliveries.push(d),
    error: (e: unknown) => {
      recorder.error = e
    },
    complete: () => {
      recorder.completed = true
    },
  })
  return recorder
}

/** Resolves once `condition()` holds; rejects with what was last seen after `timeoutMs`. */
export async function until(
  condition: () => boolean,
  timeoutMs = 2_000,
  describe?: () => unknown,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error(
        `condition not met within ${timeoutMs} ms${describe ? `: ${JSON.stringify(describe())}` : ''}`,
      )
    }
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
}

/** Lets queued microtasks and one macrotask turn run, so that nothing pending is left to deliver. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

/**
 * Call once at the top of a test file: returns a factory of memory transports, each closed
 * (without draining) after the test that made it.
 */
export function useTransports(): (
  options?: MemoryTransportOptions,
  runtime?: DeriveOptions,
) => MemoryTransport {
  const made: MemoryTransport[] = []
  afterEach(async () => {
    await Promise.all(made.splice(0).map((t) => t.close({ drain: false })))
  })
  return (options, runtime) => {
    const t = new MemoryTransport(options, runtime)
    made.push(t)
    return t
  }
}
