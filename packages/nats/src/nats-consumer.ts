/**
 * `NatsConsumer`: one subscription on JetStream, a pull consumer over the group's durable
 * consumer (or a private one for a subscription without a group).
 *
 * It pulls with `consume({ max_messages: prefetch })` and reads the iterator; while the core has
 * paused it, it stops reading, so the client sends no further pull requests and holds at most one
 * batch. Raw settles map to `ack`, `term` (reject), `nak()` (requeue) and `nak(delay)` (the
 * server holds the delay). A pattern with `#` filters more broadly than it matches (see
 * `filterOf`); messages of other topics are acked without being delivered. On stop the pull is
 * cancelled first, then whatever the client still holds is given back with `nak`, so the group
 * gets it again at once rather than after `ack_wait`. After a lost connection the driver calls `attach()` again; settles of
 * messages from the dead connection do nothing (the server redelivers them after `ack_wait`).
 */
import type { ConsumerMessages, JetStreamClient, JsMsg } from '@nats-io/jetstream'
import {
  type ConsumerHealth,
  type ConsumeSpec,
  type DeliverySink,
  type DriverConsumer,
  type RawDelivery,
  topicMatches,
} from '@switchyard/core/spi'
import { filterOf, fromJsMsg, topicOf } from './nats-message.js'

/** What a consumer needs from its driver. */
export interface ConsumerContext {
  readonly prefix: string
  /** The current JetStream client, `undefined` while disconnected. */
  jetstream(): JetStreamClient | undefined
  /** Creates (or finds) the consumer, returns its name. */
  ensureConsumer(topic: string, name: string, spec: ConsumeSpec, ephemeral: boolean): Promise<void>
  /** Deletes a private consumer (errors ignored). */
  deleteConsumer(name: string): Promise<void>
  /**
   * Settles a message (ack, nak, term) at the end of this turn of the event loop, together with
   * every other settle of the turn: the client writes each microtask's commands in a socket write of
   * their own, and the core's settles arrive one per microtask, so sent at once they cost one write
   * per message. Settles keep their order. `flush()` sends what is queued first.
   */
  settle(action: () => void): void
  /** Sends the queued settles, then waits until what was written on the connection has reached the server (errors ignored). */
  flush(): Promise<void>
  /** A consumer failed to attach while the connection stays up (`error`), or attached again after that. */
  failed(error: unknown): void
  recovered(): void
  forget(consumer: NatsConsumer): void
}

export class NatsConsumer implements DriverConsumer {
  readonly #context: ConsumerContext
  readonly #topic: string
  readonly #spec: ConsumeSpec
  readonly #sink: DeliverySink
  readonly #name: string
  readonly #ephemeral: boolean
  #messages: ConsumerMessages | undefined
  #reading: Promise<void> | undefined
  /** Set for a pattern with `#`: the topics this consumer takes out of its broader filter. */
  readonly #matches: ((topic: string) => boolean) | undefined
  #ready = false
  #failing = false
  #stopping = false
  #paused = false
  #resume: (() => void) | undefined
  #attaching: Promise<void> | undefined
  /** Delivered and not yet settled: given back with `nak` on stop, so they need not wait for `ack_wait`. */
  readonly #unsettled = new Set<JsMsg>()

  constructor(context: ConsumerContext, topic: string, spec: ConsumeSpec, sink: DeliverySink, name: string) {
    this.#context = context
    this.#topic = topic
    this.#spec = spec
    this.#sink = sink
    this.#name = name
    this.#ephemeral = spec.group === undefined
    this.#matches = filterOf(context.prefix, topic).exact ? undefined : (t) => topicMatches(topic, t)
  }

  /** The consumer's name on the server. */
  get name(): string {
    return this.#name
  }

  /**
   * Attaches on the current connection; a no-op while disconnected or already attached. Calls
   * queue behind one another, so a call made after a reconnection is not lost in an attempt
   * still running on the old connection.
   */
  attach(): Promise<void> {
    const attaching = (this.#attaching ?? Promise.resolve()).then(() => this.#attach())
    this.#attaching = attaching
    return attaching
  }

  async #attach(): Promise<void> {
    const js = this.#context.jetstream()
    if (this.#stopping || js === undefined || this.#messages !== undefined) return
    let messages: ConsumerMessages
    try {
      await this.#context.ensureConsumer(this.#topic, this.#name, this.#spec, this.#ephemeral)
      const consumer = await js.consumers.get(this.#context.prefix, this.#name)
      messages = await consumer.consume({ max_messages: this.#spec.prefetch })
    } catch (error) {
      // Lost while attaching: the driver attaches again after the next connect. Otherwise the
      // status shows the error and the attempt is repeated every second until it works.
      if (this.#context.jetstream() === js && !this.#stopping) {
        this.#failing = true
        this.#context.failed(error)
        setTimeout(() => void this.attach(), 1_000).unref()
      }
      return
    }
    if (this.#stopping || this.#context.jetstream() !== js) {
      messages.stop()
      return
    }
    this.#messages = messages
    if (this.#failing) {
      this.#failing = false
      this.#context.recovered()
    }
    if (!this.#ready) {
      this.#ready = true
      this.#sink.ready()
    }
    void this.#watch(messages)
    this.#reading = this.#read(messages)
  }

  async #read(messages: ConsumerMessages): Promise<void> {
    try {
      for await (const m of messages) {
        if (this.#stopping) {
          giveBack(m)
          continue
        }
        // Left over from a lost connection: the server delivers it again.
        if (this.#messages !== messages) continue
        if (this.#matches !== undefined && !this.#matches(topicOf(this.#context.prefix, m.subject))) {
          settleQuietly(() => m.ack())
          continue
        }
        this.#sink.deliver(this.#raw(m))
        // Not reading the iterator is the backpressure: the client pulls again only as we read.
        if (this.#paused) await new Promise<void>((resolve) => (this.#resume = resolve))
      }
    } catch {
      // The connection closed under the iterator; the driver re-attaches after reconnecting.
    }
    if (this.#messages === messages) this.#messages = undefined
  }

  /** A consumer deleted under us (deprovisioned elsewhere) is created again and pulled from. */
  async #watch(messages: ConsumerMessages): Promise<void> {
    try {
      for await (const status of messages.status()) {
        if (this.#stopping || this.#messages !== messages) return
        if (status.type === 'consumer_deleted' || status.type === 'consumer_not_found') {
          // The client would only pull again after missed heartbeats (~30 s): start afresh now.
          this.#messages = undefined
          messages.stop()
          await this.attach()
          return
        }
      }
    } catch {
      // Ends with the iterator.
    }
  }

  #raw(m: JsMsg): RawDelivery {
    this.#unsettled.add(m)
    const settle = (action: (m: JsMsg) => void): undefined => {
      if (this.#unsettled.delete(m)) this.#context.settle(() => action(m))
      return undefined
    }
    return {
      message: fromJsMsg(this.#context.prefix, m),
      ack: () => settle((x) => x.ack()),
      reject: () => settle((x) => x.term()),
      requeue: () => settle((x) => x.nak()),
      delay: (ms) => settle((x) => x.nak(ms)),
    }
  }

  pause(): void {
    this.#paused = true
  }

  resume(): void {
    this.#paused = false
    const resume = this.#resume
    this.#resume = undefined
    resume?.()
  }

  /** The connection is gone: drop the iterator (its messages are redelivered by the server). */
  onLost(): void {
    const messages = this.#messages
    this.#messages = undefined
    this.#unsettled.clear()
    messages?.stop()
    this.#resume?.()
  }

  async stop(): Promise<void> {
    if (this.#stopping) return
    this.#stopping = true
    this.#context.forget(this)
    await this.#attaching?.catch(() => {})
    // Cancel the pull and make sure the server saw it, so nothing given back lands in it again;
    // the iterator still yields what the client holds, and the read loop gives that back.
    this.#messages?.stop()
    await this.#context.flush()
    this.#paused = false
    this.#resume?.()
    await this.#reading
    for (const m of this.#unsettled) giveBack(m)
    this.#unsettled.clear()
    this.#messages = undefined
    await this.#context.flush()
    if (this.#ephemeral) await this.#context.deleteConsumer(this.#name)
  }

  async health(): Promise<ConsumerHealth> {
    const js = this.#context.jetstream()
    if (js === undefined) return {}
    try {
      const info = await (await js.consumers.get(this.#context.prefix, this.#name)).info(true)
      return { lag: info.num_pending }
    } catch {
      return {}
    }
  }
}

/** Returns a message to the group at once (`nak`). */
function giveBack(m: JsMsg): void {
  settleQuietly(() => m.nak())
}

/** Settles; when the connection is gone there is nothing to do: the server redelivers after `ack_wait`. */
function settleQuietly(settle: () => void): void {
  try {
    settle()
  } catch {
    // See above.
  }
}
