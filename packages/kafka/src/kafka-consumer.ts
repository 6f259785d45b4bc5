/**
 * `KafkaConsumer`: one driver consumer (one `subscribe` stream of the derived transport), backed
 * by one kafkajs consumer.
 *
 * The partition flows, the hand-out to the core, settling, commit timing, backoff and stop are
 * {@link KafkaConsumerBase}'s (shared with the `@platformatic/kafka` consumer); this file maps them
 * onto kafkajs. kafkajs hands over batches per partition (`eachBatch`, one at a time); a batch
 * returns to kafkajs once the partition's backlog is down to its low-water mark, so the next fetch
 * overlaps with the work on this one; a partition whose backlog does not drain within
 * `maxWaitTimeMs` (the core paused us, a key is busy) is paused in kafkajs and resumed once it
 * does. Offsets are committed with `commitOffsets` (kafkajs auto-commit is off). A consumer kafkajs
 * gives up on (a crash it does not restart) is replaced after a backoff pause.
 */
import type { DeliverySink, SwitchyardError } from '@switchyard/core/spi'
import { SwitchyardHeaders } from '@switchyard/core/spi'
import type { Consumer, EachBatchPayload, IHeaders, Kafka, KafkaMessage } from 'kafkajs'
import {
  type ConsumerHost,
  type ConsumerSpec,
  KafkaConsumerBase,
  type PartitionState,
} from './kafka-consumer-base.js'
import type { PartitionFlow } from './partition-flow.js'
import { subscriptionAssigner } from './subscription-assigner.js'

/** One assigned partition, with what kafkajs' per-partition pause needs. */
interface KafkajsPartition extends PartitionState<KafkaMessage> {
  paused: boolean
  /** Backlog at or below which the partition takes another batch (set by each batch). */
  lowWater: number
  /** Wakes the batch waiting for the backlog to reach `lowWater`, if one is waiting. */
  wake: (() => void) | undefined
}

/** Records of a partition not yet handed to the core: ready, or held back behind their key. */
function backlog(flow: PartitionFlow<KafkaMessage>): number {
  return flow.readyCount + flow.heldCount
}

function copyHeaders(raw: IHeaders | undefined, into: { [name: string]: string }): void {
  if (raw === undefined) return
  for (const name in raw) {
    if (name === SwitchyardHeaders.messageId) continue
    const value = raw[name]
    if (value === undefined) continue
    const one = Array.isArray(value) ? value[value.length - 1] : value
    into[name] = typeof one === 'string' ? one : (one?.toString('utf8') ?? '')
  }
}

export class KafkaConsumer extends KafkaConsumerBase<KafkaMessage, KafkajsPartition> {
  readonly #kafka: Kafka
  #consumer: Consumer | undefined
  #heartbeat: (() => Promise<void>) | undefined
  #heartbeatTimer: ReturnType<typeof setInterval> | undefined
  #restartTimer: ReturnType<typeof setTimeout> | undefined

  constructor(host: ConsumerHost, kafka: Kafka, spec: ConsumerSpec, sink: DeliverySink) {
    super(host, spec, sink)
    this.#kafka = kafka
  }

  protected async run(): Promise<void> {
    await this.#runConsumer()
    this.#heartbeatTimer ??= setInterval(() => this.#keepAlive(), this.host.options.heartbeatIntervalMs)
  }

  /** Only an outage is retried here; kafkajs retries what else it can itself. */
  protected retries(error: SwitchyardError): boolean {
    return error.name === 'BrokerUnavailableError'
  }

  protected override interrupt(): void {
    clearTimeout(this.#restartTimer)
    for (const state of this.partitions.values()) state.wake?.()
  }

  protected override quiesce(): void {
    try {
      this.#consumer?.pause([{ topic: this.spec.topic }])
    } catch {
      // not running: nothing is fetched anyway
    }
    clearInterval(this.#heartbeatTimer)
  }

  protected async detach(): Promise<void> {
    await this.#consumer?.disconnect().catch(() => undefined)
  }

  async #runConsumer(): Promise<void> {
    const { options } = this.host
    const consumer = this.#kafka.consumer({
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
    const current = (): boolean => this.#consumer === consumer && !this.stopping
    consumer.on(consumer.events.REBALANCING, () => {
      if (current()) this.rebalanceStarted()
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
    if (this.stopping) return
    this.resetBackoff()
    const assigned = new Set(assignment[this.spec.topic] ?? [])
    this.abandonUnassigned(assigned)
    // kafkajs keeps its own paused set across rebalances: make it match ours.
    const consumer = this.#consumer
    if (consumer) {
      const resume = [...assigned].filter((p) => this.partitions.get(p)?.paused !== true)
      if (resume.length > 0) consumer.resume([{ topic: this.spec.topic, partitions: resume }])
    }
    this.assigned()
  }

  #onCrash(error: Error, restart: boolean): void {
    if (this.stopping) return
    this.abandonAll()
    const mapped = this.map(error, 'consume')
    if (mapped.name === 'ConfigError') {
      // The broker refuses this consumer's settings: restarting it would only fail again.
      this.sink.fail(mapped)
      return
    }
    if (mapped.name === 'BrokerUnavailableError') this.host.disconnected(mapped)
    if (restart) return
    if (mapped.name === 'AuthenticationError') {
      this.sink.fail(mapped)
      return
    }
    // kafkajs gave up on this consumer (a non-retriable error): start a new one after a pause.
    const old = this.#consumer
    this.#consumer = undefined
    this.#restartTimer = setTimeout(() => {
      this.starting = (async () => {
        await old?.disconnect().catch(() => undefined)
        if (this.stopping) return
        try {
          await this.#runConsumer()
        } catch (e) {
          this.#onCrash(e instanceof Error ? e : new Error(String(e)), false)
        }
      })()
    }, this.nextRestartDelay())
  }

  /** A batch waiting for its backlog to drain returns at once when its partition is abandoned. */
  protected override abandon(state: KafkajsPartition): void {
    super.abandon(state)
    state.wake?.()
  }

  async #onBatch({ batch, heartbeat, isStale }: EachBatchPayload): Promise<void> {
    this.#heartbeat = heartbeat
    if (this.stopping || isStale()) return
    // kafkajs hands out batches only to a member with an assignment: a rebalance is over.
    this.host.rebalancing(this, false)
    const state = this.partitionState(batch.partition, () => ({
      paused: false,
      lowWater: 0,
      wake: undefined,
    }))
    for (const message of batch.messages) {
      const key = message.key
      this.receive(state, Number(message.offset), key === null ? undefined : key.toString('utf8'), message)
    }
    // Take the next batch once half of this one is handed out (or a prefetch's worth is left), so
    // the next fetch overlaps with the work on this one.
    state.lowWater = Math.max(this.spec.prefetch, batch.messages.length >> 1)
    this.pump()
    if (await this.#drained(state, isStale)) return
    // The backlog is not draining (the core paused us, a held-back key): pause the partition, so
    // that kafkajs is free to fetch the others, heartbeat and rebalance meanwhile.
    if (this.stopping || state.abandoned || state.paused) return
    state.paused = true
    this.#consumer?.pause([{ topic: this.spec.topic, partitions: [state.partition] }])
    heartbeat().catch(() => undefined)
  }

  /**
   * Waits up to `maxWaitTimeMs` for the partition's backlog to reach its low-water mark; true when
   * it did (or there is nothing left to wait for).
   */
  #drained(state: KafkajsPartition, isStale: () => boolean): Promise<boolean> {
    if (backlog(state.flow) <= state.lowWater || this.stopping || state.abandoned)
      return Promise.resolve(true)
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        state.wake = undefined
        resolve(isStale())
      }, this.host.options.maxWaitTimeMs)
      state.wake = () => {
        clearTimeout(timer)
        state.wake = undefined
        resolve(true)
      }
    })
  }

  /**
   * Partitions whose backlog reached the low-water mark: wakes the batch waiting for it, or resumes
   * the partition if it was paused.
   */
  protected afterPump(): void {
    if (this.stopping) return
    let resume: number[] | undefined
    for (const state of this.partitions.values()) {
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
    if (this.partitions.size === 0 || this.#heartbeat === undefined) return
    for (const state of this.partitions.values()) if (!state.paused) return
    this.#heartbeat().catch(() => undefined)
  }

  protected readHeaders(record: KafkaMessage, into: { [name: string]: string }): string | undefined {
    const headers = record.headers
    copyHeaders(headers, into)
    const rawId = headers?.[SwitchyardHeaders.messageId]
    return rawId === undefined ? undefined : String(rawId)
  }

  protected commitOffsets(
    points: readonly (readonly [KafkajsPartition, number])[],
  ): Promise<void> | undefined {
    return this.#consumer?.commitOffsets(
      points.map(([state, point]) => ({
        topic: this.spec.topic,
        partition: state.partition,
        offset: String(point),
      })),
    )
  }
}
