/**
 * `KafkaSubscription`: one `Transport.subscribe` stream, backed by one kafkajs consumer.
 *
 * kafkajs hands over batches per partition (`eachBatch`, one at a time); this class puts
 * each batch's records into the partition's {@link PartitionFlow}, emits deliveries as fast as the
 * in-flight limit and the per-key hold-back allow, and returns from the batch once the partition's
 * backlog is down to its low-water mark, so kafkajs fetches the next batch while the last one is
 * still being worked on (backpressure without pausing). A partition whose backlog does not drain
 * within `maxWaitTimeMs` is paused in kafkajs instead, and resumed once it is down to that mark.
 * Kafka offsets are committed on a timer, by this class alone (kafkajs auto-commit is off), and
 * only up to each partition's commit point. It does not publish, create topics or compute lag: the
 * transport does.
 */
import type { Delivery, Message, SubscriptionHealth, SwitchyardError } from '@switchyard/core/spi'
import { createDelivery, SwitchyardHeaders } from '@switchyard/core/spi'
import type { Consumer, EachBatchPayload, IHeaders, Kafka, KafkaMessage } from 'kafkajs'
import type { Subscriber } from 'rxjs'
import type { ErrorSite } from './errors.js'
import type { ResolvedKafkaOptions } from './options.js'
import { type FlowEntry, PartitionFlow } from './partition-flow.js'
import type { StatusTracker } from './status-tracker.js'
import { subscriptionAssigner } from './subscription-assigner.js'

/** What a subscription needs from its transport. */
export interface SubscriptionHost {
  readonly kafka: Kafka
  readonly options: ResolvedKafkaOptions
  readonly status: StatusTracker
  /** True once settling must reject (the transport finished draining or closed). */
  settleClosed(): boolean
  ensureTopic(topic: string): Promise<void>
  /**
   * Gives `group` committed offsets on every partition of `topic` where it has none: the end of
   * the partition, or its start with `fromBeginning`. Does nothing for partitions with commits, or
   * when the group already has running members.
   */
  prepareGroup(group: string, topic: string, fromBeginning: boolean): Promise<void>
  deleteGroup(group: string): Promise<void>
  mapError(error: unknown, site: Omit<ErrorSite, 'brokers'>): SwitchyardError
}

export interface SubscriptionSpec {
  readonly topic: string
  /** The user's group, undefined for an ephemeral subscription. */
  readonly group: string | undefined
  /** The Kafka consumer group actually used (the ephemeral one when `group` is undefined). */
  readonly groupId: string
  readonly inFlight: number
  readonly fromBeginning: boolean
  readonly onReady: (() => void) | undefined
}

interface PartitionState {
  readonly partition: number
  readonly flow: PartitionFlow<KafkaMessage>
  committed: number
  abandoned: boolean
  paused: boolean
  /** Backlog at or below which the partition takes another batch (set by each batch). */
  lowWater: number
  /** Wakes the batch waiting for the backlog to reach `lowWater`, if one is waiting. */
  wake: (() => void) | undefined
  readonly timers: Set<ReturnType<typeof setTimeout>>
}

const emptyPayload = new Uint8Array(0)

/** Records of a partition not yet emitted: ready, held back behind their key, or waiting for a delay. */
function backlog(flow: PartitionFlow<KafkaMessage>): number {
  return flow.readyCount + flow.heldCount + flow.deferredCount
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

export class KafkaSubscription {
  readonly spec: SubscriptionSpec
  readonly #host: SubscriptionHost
  readonly #subscriber: Subscriber<Delivery>
  readonly #partitions = new Map<number, PartitionState>()
  #consumer: Consumer | undefined
  #inFlight = 0
  #pumping = false
  #pumpAgain = false
  #ready = false
  #stopping = false
  #detached = false
  #stopped: Promise<void> | undefined
  #commitTimer: ReturnType<typeof setTimeout> | undefined
  #committing: Promise<void> | undefined
  #heartbeat: (() => Promise<void>) | undefined
  #heartbeatTimer: ReturnType<typeof setInterval> | undefined
  #restartTimer: ReturnType<typeof setTimeout> | undefined
  #restartDelayMs = 500
  #idleWaiters: (() => void)[] = []
  /** Per partition, the offset after the last record received before it was abandoned. */
  readonly #seenUpTo = new Map<number, number>()
  #starting: Promise<void> | undefined
  #wake: (() => void) | undefined

  constructor(host: SubscriptionHost, spec: SubscriptionSpec, subscriber: Subscriber<Delivery>) {
    this.#host = host
    this.spec = spec
    this.#subscriber = subscriber
  }

  /** Unsettled deliveries held now. */
  get inFlight(): number {
    return this.#inFlight
  }

  /** Attaches the consumer; broker outages are retried here until the subscription stops. */
  start(): Promise<void> {
    this.#starting ??= this.#start()
    return this.#starting
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
        const mapped = this.#host.mapError(error, { operation: 'subscribe', topic, group: groupId })
        if (mapped.name !== 'BrokerUnavailableError' || this.#stopping) throw mapped
        this.#host.status.report(this, { state: 'reconnecting', error: mapped })
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

  /** Health of this subscription without lag (the transport adds lag). */
  health(): SubscriptionHealth {
    return { topic: this.spec.topic, group: this.spec.group, inFlight: this.#inFlight }
  }

  /**
   * Stops taking deliveries; with `drain`, waits up to `timeoutMs` for in-flight ones to be settled;
   * commits what is settled, disconnects, and (ephemeral) deletes the group. Idempotent.
   */
  stop(options: { drain: boolean; timeoutMs: number }): Promise<void> {
    if (this.#stopped === undefined) {
      this.#stopping = true
      // Without drain, the deliveries go back to Kafka now: settling them from here on is a no-op.
      if (!options.drain) this.#detached = true
      this.#wake?.()
      for (const state of this.#partitions.values()) state.wake?.()
      this.#stopped = this.#stop(options)
    }
    return this.#stopped
  }

  /** Ends the stream with `error` (after the transport closed, or when it cannot continue). */
  fail(error: SwitchyardError): void {
    this.#subscriber.error(error)
  }

  /** Ends the stream quietly (the transport was closed on purpose). */
  end(): void {
    this.#subscriber.complete()
  }

  async #stop({ drain, timeoutMs }: { drain: boolean; timeoutMs: number }): Promise<void> {
    clearTimeout(this.#restartTimer)
    // Let a start in progress finish (or give up) first, so that no consumer is left behind.
    await this.#starting?.catch(() => undefined)
    const consumer = this.#consumer
    if (consumer) {
      try {
        consumer.pause([{ topic: this.spec.topic }])
      } catch {
        // not running: nothing is fetched anyway
      }
    }
    if (drain && this.#inFlight > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs)
        this.#idleWaiters.push(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
    this.#detached = true
    clearInterval(this.#heartbeatTimer)
    clearTimeout(this.#commitTimer)
    for (const state of this.#partitions.values()) for (const timer of state.timers) clearTimeout(timer)
    await this.#commit()
    this.#host.status.report(this, undefined)
    if (consumer) await consumer.disconnect().catch(() => undefined)
    if (this.spec.group === undefined) await this.#host.deleteGroup(this.spec.groupId).catch(() => undefined)
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
    // A consumer replaced after a crash may still emit events while it shuts down (a fetch failing
    // as "rebalancing", say): only the current consumer's events change this subscription's state,
    // or a stale `rebalancing` report would outlive the rebalance.
    const current = (): boolean => this.#consumer === consumer && !this.#stopping
    consumer.on(consumer.events.REBALANCING, () => {
      if (!current()) return
      this.#host.status.report(this, { state: 'rebalancing' })
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
    this.#host.status.report(this, undefined)
    this.#markReady()
    this.#pump()
  }

  #markReady(): void {
    if (this.#ready || this.#stopping) return
    this.#ready = true
    this.spec.onReady?.()
  }

  #onCrash(error: Error, restart: boolean): void {
    if (this.#stopping) return
    for (const state of [...this.#partitions.values()]) this.#abandon(state)
    const mapped = this.#host.mapError(error, { operation: 'consume', topic: this.spec.topic })
    this.#host.status.report(this, { state: 'reconnecting', error: mapped })
    if (restart) return
    if (mapped.name === 'AuthenticationError') {
      this.fail(mapped)
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

  /** Drops a partition's state: its deliveries become no-ops and nothing past them is committed. */
  #abandon(state: PartitionState): void {
    state.abandoned = true
    const next = state.flow.next
    if (next !== undefined)
      this.#seenUpTo.set(state.partition, Math.max(next, this.#seenUpTo.get(state.partition) ?? 0))
    this.#partitions.delete(state.partition)
    state.wake?.()
    for (const timer of state.timers) clearTimeout(timer)
    this.#inFlight -= state.flow.inFlight
    this.#notifyIdle()
  }

  async #onBatch({ batch, heartbeat, isStale }: EachBatchPayload): Promise<void> {
    this.#heartbeat = heartbeat
    if (this.#stopping || isStale()) return
    // kafkajs hands out batches only to a member with an assignment: whatever rebalance or
    // reconnect this subscription reported is over.
    this.#host.status.report(this, undefined)
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
        timers: new Set(),
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
    // Take the next batch once half of this one is emitted (or the in-flight limit's worth is left),
    // so the next fetch overlaps with the work on this one.
    state.lowWater = Math.max(this.spec.inFlight, batch.messages.length >> 1)
    this.#pump()
    if (await this.#drained(state, isStale)) return
    // The backlog is not draining (slow handlers, a held-back key, delays): pause the partition,
    // so that kafkajs is free to fetch the others, heartbeat and rebalance meanwhile.
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

  /** Emits ready records round-robin across partitions while the in-flight limit allows. */
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
        while (progressed && !this.#stopping && this.#inFlight < this.spec.inFlight) {
          progressed = false
          for (const state of this.#partitions.values()) {
            if (this.#inFlight >= this.spec.inFlight || this.#stopping) break
            const entry = state.flow.take()
            if (entry === undefined) continue
            progressed = true
            this.#inFlight++
            this.#subscriber.next(this.#delivery(state, entry))
          }
        }
      } while (this.#pumpAgain)
    } finally {
      this.#pumping = false
    }
    this.#updatePauses()
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

  #delivery(state: PartitionState, entry: FlowEntry<KafkaMessage>): Delivery {
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
    return createDelivery(message, {
      transport: 'kafka',
      isClosed: () => this.#host.settleClosed(),
      isDetached: () => this.#detached || state.abandoned,
      ack: () => {
        this.#settle(state, entry)
        return Promise.resolve()
      },
      nack: ({ requeue, delayMs }) => {
        if (delayMs !== undefined) this.#defer(state, entry, delayMs)
        else if (requeue) {
          state.flow.requeue(entry)
          this.#released()
        } else this.#settle(state, entry)
        return Promise.resolve()
      },
    })
  }

  #settle(state: PartitionState, entry: FlowEntry<KafkaMessage>): void {
    state.flow.settle(entry)
    this.#scheduleCommit()
    this.#released()
  }

  #defer(state: PartitionState, entry: FlowEntry<KafkaMessage>, delayMs: number): void {
    state.flow.defer(entry)
    const timer = setTimeout(() => {
      state.timers.delete(timer)
      if (state.abandoned || this.#stopping) return
      state.flow.undefer(entry)
      this.#pump()
    }, delayMs)
    state.timers.add(timer)
    this.#released()
  }

  /** One delivery left the in-flight set. */
  #released(): void {
    this.#inFlight--
    this.#notifyIdle()
    // Straight on: #pump() guards against re-entrance (an ack from inside a handler it called).
    if (!this.#stopping) this.#pump()
  }

  #notifyIdle(): void {
    if (this.#inFlight > 0 || this.#idleWaiters.length === 0) return
    const waiters = this.#idleWaiters
    this.#idleWaiters = []
    for (const wake of waiters) wake()
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
        // A rebalance or outage: the next settle (or close) commits again; redelivery, never loss.
        if (!this.#stopping) this.#scheduleCommit()
      })
      .finally(() => {
        this.#committing = undefined
      })
    await this.#committing
  }
}
