/**
 * Test helper: a driver whose every answer the test controls (connect outcomes, publish and
 * settle promises, deliveries) and which records what the core called, in order.
 */
import { Subject } from 'rxjs'
import type {
  Capabilities,
  ConsumeSpec,
  DeliverySink,
  DriverConsumer,
  DriverEvent,
  DriverFeatures,
  Message,
  OutgoingMessage,
  RawDelivery,
  TransportDriver,
} from '../spi.js'

/** A promise with its resolve and reject exposed. */
export interface Deferred<T = void> {
  readonly promise: Promise<T>
  resolve(value: T): void
  reject(error: unknown): void
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void
  let reject!: (error: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

/** One consumer the core attached. */
export interface ScriptedConsumer extends DriverConsumer {
  readonly topic: string
  readonly spec: ConsumeSpec
  readonly sink: DeliverySink
  /** Hands the core a message; returns the raw delivery so the test can inspect its settlement. */
  deliver(key?: string, id?: string): ScriptedDelivery
  /** What the stop promise waits for (resolved at once unless the test replaces it). */
  stopGate: Promise<void>
}

export interface ScriptedDelivery extends RawDelivery {
  /** `ack`, `reject`, `requeue` or `delay:<ms>` once settled. */
  settledAs: string | undefined
}

export class ScriptedDriver implements TransportDriver {
  readonly kind = 'scripted'
  readonly capabilities: Capabilities = {
    orderedByKey: false,
    persistent: false,
    replay: false,
    priority: false,
    patterns: false,
    durableDelay: false,
    maxMessageBytes: 100,
  }
  readonly features: DriverFeatures
  readonly events = new Subject<DriverEvent>()
  readonly events$ = this.events.asObservable()
  /** Everything the core called, in order (`connect`, `publish`, `stop:<topic>`, `close`, settles …). */
  readonly calls: string[] = []
  readonly consumers: ScriptedConsumer[] = []
  readonly published: OutgoingMessage[][] = []
  /** Answers for the next `connect()` calls; when empty, connect succeeds. */
  readonly connectAnswers: (() => Promise<void>)[] = []
  /** Answer for `publish` (default: resolved). */
  publishAnswer: () => Promise<void> = () => Promise.resolve()
  /** Answer for every settle (default: resolved). */
  settleAnswer: () => Promise<void> = () => Promise.resolve()
  /** When set, `consume` answers asynchronously, once this resolves. */
  consumeGate: Promise<void> | undefined
  #ids = 0

  constructor(features: Partial<DriverFeatures> = {}) {
    this.features = { keyOrder: true, delay: false, ...features }
  }

  connect(): Promise<void> {
    this.calls.push('connect')
    return this.connectAnswers.shift()?.() ?? Promise.resolve()
  }

  publish(messages: readonly OutgoingMessage[]): Promise<void> {
    this.calls.push('publish')
    this.published.push([...messages])
    return this.publishAnswer()
  }

  provision(topic: string, groups: readonly string[]): Promise<void> {
    this.calls.push(`provision:${topic}:${groups.join(',')}`)
    return Promise.resolve()
  }

  deprovision(topic: string, groups: readonly string[] | undefined): Promise<void> {
    this.calls.push(`deprovision:${topic}:${groups?.join(',') ?? '*'}`)
    return Promise.resolve()
  }

  consume(topic: string, spec: ConsumeSpec, sink: DeliverySink): DriverConsumer | Promise<DriverConsumer> {
    this.calls.push(`consume:${topic}`)
    const gate = this.consumeGate
    if (gate !== undefined) return gate.then(() => this.#attach(topic, spec, sink))
    return this.#attach(topic, spec, sink)
  }

  #attach(topic: string, spec: ConsumeSpec, sink: DeliverySink): ScriptedConsumer {
    const consumer: ScriptedConsumer = {
      topic,
      spec,
      sink,
      stopGate: Promise.resolve(),
      pause: () => this.calls.push(`pause:${topic}`),
      resume: () => this.calls.push(`resume:${topic}`),
      stop: async () => {
        await consumer.stopGate
        this.calls.push(`stop:${topic}`)
      },
      deliver: (key, id) => {
        const message: Message = {
          id: id ?? `m${++this.#ids}`,
          topic,
          key,
          headers: {},
          payload: new Uint8Array(),
          timestamp: 0,
          attempt: 1,
        }
        const settle = (as: string): Promise<void> => {
          raw.settledAs = as
          return this.settleAnswer().then(() => {
            this.calls.push(`${as}:${message.id}`)
          })
        }
        const raw: ScriptedDelivery = {
          message,
          settledAs: undefined,
          ack: () => settle('ack'),
          reject: () => settle('reject'),
          requeue: () => settle('requeue'),
          ...(this.features.delay ? { delay: (ms: number) => settle(`delay:${ms}`) } : {}),
        }
        sink.deliver(raw)
        return raw
      },
    }
    this.consumers.push(consumer)
    sink.ready()
    return consumer
  }

  close(): Promise<void> {
    this.calls.push('close')
    return Promise.resolve()
  }
}

/** An outgoing message for `topic` with `size` payload bytes. */
export function outgoing(topic: string, size = 1, key?: string): OutgoingMessage {
  return {
    topic,
    payload: new Uint8Array(size),
    id: `o-${Math.random().toString(36).slice(2)}`,
    timestamp: 0,
    headers: {},
    ...(key === undefined ? {} : { key }),
  }
}
