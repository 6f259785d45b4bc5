/**
 * `KafkaConsumer`: one driver consumer (one `subscribe` stream of the derived transport), backed
 * by one kafkajs consumer.
 *
 * kafkajs hands over batches per partition (`eachBatch`, one at a time); each batch's records go
 * into the partition's {@link PartitionFlow}, which holds a record back while an earlier one of its
 * key is unsettled and knows the contiguous settled prefix. Ready records go to the core's sink
 * round-robin across partitions until the core calls `pause()` (it holds `prefetch` unsettled);
 * `resume()` pumps again. A batch returns to kafkajs once the partition's backlog is down to its
 * low-water mark, so the next fetch overlaps with the work on this one; a partition whose backlog
 * does not drain within `maxWaitTimeMs` (the core paused us, a key is busy) is paused in kafkajs
 * and resumed once it does. Offsets are committed on a timer, by this class alone (kafkajs
 * auto-commit is off), only up to each partition's commit point, and on rebalance and stop.
 * It does not count in-flight deliveries, drain, delay or report status: the core does that.
 */
import type {
  ConsumerHealth,
  DeliverySink,
  DriverConsumer,
  Message,
  RawDelivery,
  SwitchyardError,
} from '@switchyard/core/spi'
import { SwitchyardHeaders } from '@switchyard/core/spi'
import type { Consumer, EachBatchPayload, IHeaders, Kafka, KafkaMessage } from 'kafkajs'
import type { ErrorSite } from './errors.js'
import type { ResolvedKafkaOptions } from './options.js'
import { type FlowEntry, PartitionFlow } from './partition-flow.js'
import { subscriptionAssigner } from './subscription-assigner.js'

/** What a consumer needs from its driver. */
export interface ConsumerHost {
  readonly kafka: Kafka
  readonly options: ResolvedKafkaOptions
  ensureTopic(topic: string): Promise<void>
  /** Gives `group` committed offsets at the end (or start) of each partition where it has none. */
  prepareGroup(group: string, topic: string, fromBeginning: boolean): Promise<void>
  deleteGroup(group: string): Promise<void>
  lag(group: string, topic: string): Promise<ConsumerHealth | undefined>
  mapError(error: unknown, site: Omit<ErrorSite, 'brokers'>): SwitchyardError
  /** This consumer's group is rebalancing (`true`) or has an assignment again (`false`). */
  rebalancing(consumer: object, active: boolean): void
  /** The consumer lost its connection (kafkajs restarts it; the driver reports the outage). */
  disconnected(error: SwitchyardError): void
}

export interface ConsumerSpec {
  readonly topic: string
  /** The Kafka consumer group (a unique one for an ephemeral subscription). */
  readonly groupId: string
  /** Delete the group on stop (an ephemeral subscription). */
  readonly ephemeral: boolean
  readonly fromBeginning: boolean
  /** Unsettled deliveries the core holds before it pauses us; a batch's minimum low-water mark. */
  readonly prefetch: number
}

/** One assigned partition of this consumer (exported for `KafkaDelivery`'s signature only). */
export interface PartitionState {
  readonly partition: number
  readonly flow: PartitionFlow<KafkaMessage>
  committed: number
  abandoned: boolean
  paused: boolean
  /** Backlog at or below which the partition takes another batch (set by each batch). */
  lowWater: number
  /** Wakes the batch waiting for the backlog to reach `lowWater`, if one is waiting. */
  wake: (() => void) | undefined
}

const emptyPayload = new Uint8Array(0)

/** Records of a partition not yet handed to the core: ready, or held back behind their key. */
function backlog(flow: PartitionFlow<KafkaMessage>): number {
  return flow.readyCount + flow.heldCount
}

function toHeaders(raw: IHeaders | undefined): Record<string, string> {
  const headers: Record<string, string> = {}
  if (raw === undefined) return headers
  for (const name in raw) {
    if (name === SwitchyardHeaders.messageId) continue
    const value = raw[name]
    if (value === undefined) continue
    const one = Array.isArray(value) ? value[value.length - 1] : value
    headers[name] = typeof one === 'string' ? one : (one?.toString('utf8') ?? '')
  }
  return headers
}

/**
 * One record handed to the core: methods on a prototype rather than closures per record, because
 * this is allocated once per consumed message.
 */
class KafkaDelivery implements RawDelivery {
  readonly message: Message
  readonly #consumer: KafkaConsumer
  readonly #state: PartitionState
  readonly #entry: FlowEntry<KafkaMessage>

  constructor(
    consumer: KafkaConsumer,
    state: PartitionState,
    entry: FlowEntry<KafkaMessage>,
    message: Message,
  ) {
    this.#consumer = consumer
    this.#state = state
    this.#entry = entry
    this.message = message
  }

  ack(): undefined {
    return this.#consumer.settle(this.#state, this.#entry)
  }

  reject(): undefined {
    return this.#consumer.settle(this.#state, this.#entry)
  }

  requeue(): undefined {
    return this.#consumer.requeue(this.#state, this.#entry)
  }
}

export class KafkaConsumer implements DriverConsumer {
  readonly spec: ConsumerSpec
  readonly #host: ConsumerHost
  readonly #sink: DeliverySink
  readonly #partitions = new Map<number, PartitionState>()
  #consumer: Consumer | undefined
  /** The core asked us to stop handing out records. */
  #paused = false
  #pumping = false
  #pumpAgain = false
  #pumpQueued = false
  #ready = false
  #stopping = false
  #stopped: Promise<void> | undefined
  #commitTimer: ReturnType<typeof setTimeout> | undefined
  #committing: Promise<void> | undefined
  #heartbeat: (() => Promise<void>) | undefined
  #heartbeatTimer: ReturnType<typeof setInterval> | undefined
  #restartTimer: ReturnType<typeof setTimeout> | undefined
  #restartDelayMs = 500
  /** Per partition, the offset after the last record received before it was abandoned. */
  readonly #seenUpTo = new Map<number, number>()
  #starting: Promise<void> | undefined
  #wake: (() => void) | undefined

  constructor(host: ConsumerHost, spec: ConsumerSpec, sink: DeliverySink) {
    this.#host = host
    this.spec = spec
    this.#sink = sink
  }

  /**
   * Attaches the kafkajs consumer in the background; outages are retried here until `stop()`.
   * Anything else (the topic cannot be created) fails the stream through the sink.
   */
  start(): void {
    this.#starting = this.#start().catch((error: unknown) => {
      if (!this.#stopping) this.#sink.fail(this.#map(error, 'subscribe'))
    })
  }

  pause(): void {
    this.#paused = true
  }

  resume(): void {
    this.#paused = false
    this.#pump()
  }

  /** Lag per partition, asked of the broker (absent when it cannot tell within 5 s). */
  async health(): Promise<ConsumerHealth> {
    return (await this.#host.lag(this.spec.groupId, this.spec.topic)) ?? {}
  }

  /**
   * Pauses fetching, commits each partition's settled prefix, leaves the group and (ephemeral)
   * deletes it. Unsettled records are not committed, so Kafka delivers them again. Never rejects.
   */
  stop(): Promise<void> {
    if (this.#stopped === undefined) {
      this.#stopping = true
      this.#wake?.()
      for (const state of this.#partitions.values()) state.wake?.()
      this.#stopped = this.#stop()
    }
    return this.#stopped
  }

  async #start(): Promise<void> {
    const { topic, groupId } = this.spec
    while (!this.#stopping) {
      try {
        await this.#host.ensureTopic(topic)
        await this.#host.prepareGroup(groupId, topic, this.spec.fromBeginning)
        if (this.#stopping) return
        await this.#runConsumer()
        this.#heartbeatTimer ??= setInterval(() => this.#keepAlive(), this.#host.options.heartbeatIntervalMs)
        return
      } catch (error) {
        const mapped = this.#map(error, 'subscribe')
        if (mapped.name !== 'BrokerUnavailableError' || this.#stopping) throw mapped
        this.#host.disconnected(mapped)
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.#nextRestartDelay())
          this.#wake = () => {
            clearTimeout(timer)
            resolve()
          }
        })
        this.#wake = undefined
      }
    }
  }

  async #stop(): Promise<void> {
    clearTimeout(this.#restartTimer)
    // Let a start in progress finish (or give up) first, so that no consumer is left behind.
    await this.#starting
    const consumer = this.#consumer
    try {
      consumer?.pause([{ topic: this.spec.topic }])
    } catch {
      // not running: nothing is fetched anyway
    }
    clearInterval(this.#heartbeatTimer)
    clearTimeout(this.#commitTimer)
    await this.#commit()
    this.#host.rebalancing(this, false)
    if (consumer) await consumer.disconnect().catch(() => undefined)
    if (this.spec.ephemeral) await this.#host.deleteGroup(this.spec.groupId).catch(() => undefined)
  }

  #nextRestartDelay(): number {
    const delay = this.#restartDelayMs
    this.#restartDelayMs = Math.min(delay * 2, 5_000)
    return delay
  }

  async #runConsumer(): Promise<void> {
    const { options } = this.#host
    const consumer = this.#host.kafka.consumer({
      groupId: this.spec.groupId,
      sessionTimeout: options.sessionTimeoutMs,
      heartbeatInterval: options.heartbeatIntervalMs,
      rebalanceTimeout: options.rebalanceTimeoutMs,
      maxWaitTimeInMs: options.maxWaitTimeMs,
      maxBytesPerPartition: options.maxBytesPerPartition,
      allowAutoTopicCreation: false,
      partitionAssigners: [subscriptionAssigner],
      retry: { ...options.retry, restartOnFailure: async () => true },
    })
    this.#consumer = consumer
    // A consumer replaced after a crash may still emit events while it shuts down: only the
    // current consumer's events count, or a stale `rebalancing` would outlive the rebalance.
    const current = (): boolean => this.#consumer === consumer && !this.#stopping
    consumer.on(consumer.events.REBALANCING, () => {
      if (!current()) return
      this.#host.rebalancing(this, true)
      // Kafka still accepts commits of the ending generation: commit now, so that a partition that
      // moves is not redelivered from an older offset than necessary.
      clearTimeout(this.#commitTimer)
      this.#commitTimer = undefined
      void this.#commit()
    })
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      if (current()) this.#onJoin(event.payload.memberAssignment)
    })
    consumer.on(consumer.events.CRASH, (event) => {
      if (current()) this.#onCrash(event.payload.error, event.payload.restart)
    })
    try {
      await consumer.connect()
      await consumer.subscribe({ topics: [this.spec.topic], fromBeginning: this.spec.fromBeginning })
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: true,
        partitionsConsumedConcurrently: 1,
        eachBatch: async (payload) => this.#onBatch(payload),
      })
    } catch (error) {
      this.#consumer = undefined
      await consumer.disconnect().catch(() => undefined)
      throw error
    }
  }

  #onJoin(assignment: Record<string, number[]>): void {
    if (this.#stopping) return
    this.#restartDelayMs = 500
    const assigned = new Set(assignment[this.spec.topic] ?? [])
    for (const state of [...this.#partitions.values()]) {
      if (!assigned.has(state.partition)) this.#abandon(state)
    }
    // kafkajs keeps its own paused set across rebalances: make it match ours.
    const consumer = this.#consumer
    if (consumer) {
      const resume = [...assigned].filter((p) => this.#partitions.get(p)?.paused !== true)
      if (resume.length > 0) consumer.resume([{ topic: this.spec.topic, partitions: resume }])
    }
    this.#host.rebalancing(this, false)
    if (!this.#ready) {
      this.#ready = true
      this.#sink.ready()
    }
    this.#pump()
  }

  #onCrash(error: Error, restart: boolean): void {
    if (this.#stopping) return
    for (const state of [...this.#partitions.values()]) this.#abandon(state)
    const mapped = this.#map(error, 'consume')
    if (mapped.name === 'ConfigError') {
      // The broker refuses this consumer's settings: restarting it would only fail again.
      this.#sink.fail(mapped)
      return
    }
    if (mapped.name === 'BrokerUnavailableError') this.#host.disconnected(mapped)
    if (restart) return
    if (mapped.name === 'AuthenticationError') {
      this.#sink.fail(mapped)
      return
    }
    // kafkajs gave up on this consumer (a non-retriable error): start a new one after a pause.
    const old = this.#consumer
    this.#consumer = undefined
    this.#restartTimer = setTimeout(() => {
      this.#starting = (async () => {
        await old?.disconnect().catch(() => undefined)
        if (this.#stopping) return
        try {
          await this.#runConsumer()
        } catch (e) {
          this.#onCrash(e instanceof Error ? e : new Error(String(e)), false)
        }
      })()
    }, this.#nextRestartDelay())
  }

  /**
   * Drops a partition's state: settling its records becomes a no-op and nothing past them is
   * committed; the new owner receives them from the commit point.
   */
  #abandon(state: PartitionState): void {
    state.abandoned = true
    const next = state.flow.next
    if (next !== undefined)
      this.#seenUpTo.set(state.partition, Math.max(next, this.#seenUpTo.get(state.partition) ?? 0))
    this.#partitions.delete(state.partition)
    state.wake?.()
  }

  async #onBatch({ batch, heartbeat, isStale }: EachBatchPayload): Promise<void> {
    this.#heartbeat = heartbeat
    if (this.#stopping || isStale()) return
    // kafkajs hands out batches only to a member with an assignment: a rebalance is over.
    this.#host.rebalancing(this, false)
    let state = this.#partitions.get(batch.partition)
    if (state === undefined) {
      state = {
        partition: batch.partition,
        flow: new PartitionFlow<KafkaMessage>(),
        committed: -1,
        abandoned: false,
        paused: false,
        lowWater: 0,
        wake: undefined,
      }
      this.#partitions.set(batch.partition, state)
    }
    const flow = state.flow
    const seen = this.#seenUpTo.get(batch.partition) ?? -1
    for (const message of batch.messages) {
      const key = message.key
      const offset = Number(message.offset)
      const entry = flow.receive(offset, key === null ? undefined : key.toString('utf8'), message)
      // Received before by this subscription (the partition came back after a rebalance or a
      // consumer restart): a redelivery, so its attempt says so.
      if (entry !== undefined && offset < seen) entry.attempt = 2
    }
    // Take the next batch once half of this one is handed out (or a prefetch's worth is left), so
    // the next fetch overlaps with the work on this one.
    state.lowWater = Math.max(this.spec.prefetch, batch.messages.length >> 1)
    this.#pump()
    if (await this.#drained(state, isStale)) return
    // The backlog is not draining (the core paused us, a held-back key): pause the partition, so
    // that kafkajs is free to fetch the others, heartbeat and rebalance meanwhile.
    if (this.#stopping || state.abandoned || state.paused) return
    state.paused = true
    this.#consumer?.pause([{ topic: this.spec.topic, partitions: [state.partition] }])
    heartbeat().catch(() => undefined)
  }

  /**
   * Waits up to `maxWaitTimeMs` for the partition's backlog to reach its low-water mark; true when
   * it did (or there is nothing left to wait for).
   */
  #drained(state: PartitionState, isStale: () => boolean): Promise<boolean> {
    if (backlog(state.flow) <= state.lowWater || this.#stopping || state.abandoned)
      return Promise.resolve(true)
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        state.wake = undefined
        resolve(isStale())
      }, this.#host.options.maxWaitTimeMs)
      state.wake = () => {
        clearTimeout(timer)
        state.wake = undefined
        resolve(true)
      }
    })
  }

  /** Hands ready records to the core round-robin across partitions until it pauses us. */
  #pump(): void {
    if (this.#pumping) {
      this.#pumpAgain = true
      return
    }
    this.#pumping = true
    try {
      do {
        this.#pumpAgain = false
        let progressed = true
        while (progressed && !this.#stopping && !this.#paused) {
          progressed = false
          for (const state of this.#partitions.values()) {
            if (this.#paused || this.#stopping) break
            const entry = state.flow.take()
            if (entry === undefined) continue
            progressed = true
            this.#sink.deliver(this.#delivery(state, entry))
          }
        }
      } while (this.#pumpAgain)
    } finally {
      this.#pumping = false
    }
    this.#updatePauses()
  }

  /** Pumps once the current settle has returned to the core (a key it freed may have a record waiting). */
  #queuePump(): void {
    if (this.#pumpQueued) return
    this.#pumpQueued = true
    queueMicrotask(() => {
      this.#pumpQueued = false
      if (!this.#stopping) this.#pump()
    })
  }

  /**
   * Partitions whose backlog reached the low-water mark: wakes the batch waiting for it, or resumes
   * the partition if it was paused.
   */
  #updatePauses(): void {
    if (this.#stopping) return
    let resume: number[] | undefined
    for (const state of this.#partitions.values()) {
      if ((state.wake === undefined && !state.paused) || backlog(state.flow) > state.lowWater) continue
      state.wake?.()
      if (state.paused) {
        state.paused = false
        resume ??= []
        resume.push(state.partition)
      }
    }
    if (resume !== undefined) this.#consumer?.resume([{ topic: this.spec.topic, partitions: resume }])
  }

  /** While every partition is paused kafkajs sends no heartbeats; send them so the group keeps us. */
  #keepAlive(): void {
    if (this.#partitions.size === 0 || this.#heartbeat === undefined) return
    for (const state of this.#partitions.values()) if (!state.paused) return
    this.#heartbeat().catch(() => undefined)
  }

  #delivery(state: PartitionState, entry: FlowEntry<KafkaMessage>): RawDelivery {
    const record = entry.record
    const headers = record.headers
    const rawId = headers?.[SwitchyardHeaders.messageId]
    const id = rawId === undefined ? `${this.spec.topic}-${state.partition}-${record.offset}` : String(rawId)
    const value = record.value
    const message: Message = {
      id,
      topic: this.spec.topic,
      key: entry.key,
      headers: toHeaders(headers),
      payload:
        value === null ? emptyPayload : new Uint8Array(value.buffer, value.byteOffset, value.byteLength),
      timestamp: Number(record.timestamp),
      attempt: entry.attempt,
    }
    return new KafkaDelivery(this, state, entry, message)
  }

  /**
   * Ack or reject of a delivery (Kafka has no per-record reject: both settle). Settling a record of
   * a partition this consumer lost (or after stop) does nothing: the new owner receives it from the
   * commit point.
   */
  settle(state: PartitionState, entry: FlowEntry<KafkaMessage>): undefined {
    if (state.abandoned || this.#stopping) return
    const freed = state.flow.settle(entry)
    if (this.#commitTimer === undefined) this.#scheduleCommit()
    // Only a held-back record of the same key may have become ready: the backlog is unchanged
    // otherwise, and when the core resumes us it pumps itself.
    if (freed) this.#queuePump()
  }

  /** Back at the head of its key (the key stays taken), delivered again with attempt + 1. */
  requeue(state: PartitionState, entry: FlowEntry<KafkaMessage>): undefined {
    if (state.abandoned || this.#stopping) return
    state.flow.requeue(entry)
    this.#queuePump()
  }

  #scheduleCommit(): void {
    if (this.#commitTimer !== undefined || this.#stopping) return
    this.#commitTimer = setTimeout(() => {
      this.#commitTimer = undefined
      void this.#commit()
    }, this.#host.options.commitIntervalMs)
  }

  /** Commits each partition's commit point that moved; one commit at a time. Never throws. */
  async #commit(): Promise<void> {
    while (this.#committing) await this.#committing
    const consumer = this.#consumer
    if (consumer === undefined) return
    const offsets: { topic: string; partition: number; offset: string }[] = []
    const states: [PartitionState, number][] = []
    for (const state of this.#partitions.values()) {
      const point = state.flow.commitPoint()
      if (point === undefined || point <= state.committed) continue
      offsets.push({ topic: this.spec.topic, partition: state.partition, offset: String(point) })
      states.push([state, point])
    }
    if (offsets.length === 0) return
    this.#committing = consumer
      .commitOffsets(offsets)
      .then(() => {
        for (const [state, point] of states) if (point > state.committed) state.committed = point
      })
      .catch(() => {
        // A rebalance or outage: the next settle (or stop) commits again; redelivery, never loss.
        if (!this.#stopping) this.#scheduleCommit()
      })
      .finally(() => {
        this.#committing = undefined
      })
    await this.#committing
  }

  #map(error: unknown, operation: string): SwitchyardError {
    return this.#host.mapError(error, { operation, topic: this.spec.topic, group: this.spec.groupId })
  }
}
