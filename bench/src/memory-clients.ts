/**
 * Memory benchmark clients: Switchyard's `Bus` over `MemoryTransport`, and the baseline, a bare
 * RxJS `Subject` per topic with an acknowledging `mergeMap` consumer.
 *
 * The baseline has no groups, no redelivery, no in-flight accounting and no queue: it is the
 * floor any in-process stream can reach, so the ratio shows what the broker semantics cost.
 * Messages published to a prepared topic before a consumer exists are kept in an array (standing
 * in for the group's queue) and pushed through the Subject when the consumer subscribes; on a topic
 * that was not prepared they are dropped, as `MemoryTransport` drops them for a topic without groups.
 */
import { Bus, bytesCodec } from '@switchyard/core'
import { MemoryTransport } from '@switchyard/memory'
import { mergeMap, Subject } from 'rxjs'
import { consumeWithBus } from './bus-consumer.js'
import type { BenchClient, ConsumerHandle, Side } from './client.js'

const done: Promise<void> = Promise.resolve()

class SwitchyardMemoryClient implements BenchClient {
  readonly side = 'switchyard' as const
  readonly #bus = new Bus(new MemoryTransport(), { codec: bytesCodec })

  prepare(topic: string, group: string): Promise<void> {
    return this.#bus.transport.provision(topic, { groups: [group] })
  }

  publishOne(topic: string, payload: Uint8Array): Promise<void> {
    return this.#bus.publish(topic, payload)
  }

  publishBatch(topic: string, payloads: readonly Uint8Array[]): Promise<void> {
    return this.#bus.publishBatch(payloads.map((payload) => ({ topic, payload })))
  }

  consume(
    topic: string,
    group: string,
    concurrency: number,
    onMessage: (payload: Uint8Array) => void,
  ): Promise<ConsumerHandle> {
    return consumeWithBus(this.#bus, topic, { group }, concurrency, onMessage)
  }

  cleanup(): Promise<void> {
    return done
  }

  close(): Promise<void> {
    return this.#bus.close({ drain: false })
  }
}

class SubjectClient implements BenchClient {
  readonly side = 'raw' as const
  readonly #subjects = new Map<string, Subject<Uint8Array>>()
  readonly #queued = new Map<string, Uint8Array[]>()

  prepare(topic: string): Promise<void> {
    this.#subjects.set(topic, new Subject<Uint8Array>())
    this.#queued.set(topic, [])
    return done
  }

  publishOne(topic: string, payload: Uint8Array): Promise<void> {
    this.#emit(topic, payload)
    return done
  }

  publishBatch(topic: string, payloads: readonly Uint8Array[]): Promise<void> {
    for (const payload of payloads) this.#emit(topic, payload)
    return done
  }

  consume(
    topic: string,
    _group: string,
    concurrency: number,
    onMessage: (payload: Uint8Array) => void,
  ): Promise<ConsumerHandle> {
    const subject = this.#subject(topic)
    let completed = 0
    let wake: (() => void) | undefined
    const finished = (payload: Uint8Array): void => {
      onMessage(payload)
      completed++
      if (wake !== undefined) {
        const w = wake
        wake = undefined
        w()
      }
    }
    const subscription =
      concurrency === 1
        ? subject.subscribe(onMessage)
        : subject.pipe(mergeMap((payload) => done.then(() => finished(payload)), concurrency)).subscribe()
    const queued = this.#queued.get(topic) ?? []
    this.#queued.set(topic, [])
    // Deliver what was published before the consumer existed, as a queue would: no more than
    // `concurrency` unfinished at once, so mergeMap's internal buffer (an array it shifts from) stays small.
    if (queued.length > 0) {
      setImmediate(async () => {
        for (let i = 0; i < queued.length && !subscription.closed; i++) {
          if (concurrency > 1 && i - completed >= concurrency) {
            await new Promise<void>((resolve) => {
              wake = resolve
            })
          }
          subject.next(queued[i] as Uint8Array)
        }
      })
    }
    return Promise.resolve({ stop: async () => subscription.unsubscribe() })
  }

  cleanup(topic: string): Promise<void> {
    this.#subjects.get(topic)?.complete()
    this.#subjects.delete(topic)
    this.#queued.delete(topic)
    return done
  }

  close(): Promise<void> {
    for (const subject of this.#subjects.values()) subject.complete()
    this.#subjects.clear()
    return done
  }

  #subject(topic: string): Subject<Uint8Array> {
    let subject = this.#subjects.get(topic)
    if (subject === undefined) {
      subject = new Subject<Uint8Array>()
      this.#subjects.set(topic, subject)
    }
    return subject
  }

  #emit(topic: string, payload: Uint8Array): void {
    const subject = this.#subject(topic)
    if (subject.observed) subject.next(payload)
    // Kept only for a prepared topic (one with a group queue); otherwise dropped like a topic nobody reads.
    else this.#queued.get(topic)?.push(payload)
  }
}

/** The memory pair: `switchyard` is the Bus over MemoryTransport, `raw` a bare Subject. */
export function memoryClient(side: Side): Promise<BenchClient> {
  return Promise.resolve(side === 'switchyard' ? new SwitchyardMemoryClient() : new SubjectClient())
}
