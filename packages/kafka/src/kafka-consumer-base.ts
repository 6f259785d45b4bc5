/**
 * `KafkaConsumerBase`: what the consumers of both Kafka clients (`KafkaConsumer` on kafkajs,
 * `PlatformaticConsumer` on `@platformatic/kafka`) do alike, so that each client's file holds only
 * how that client fetches, pauses, commits and recovers.
 *
 * One subscription's consumer keeps a {@link PartitionFlow} per assigned partition. Received records
 * go into their partition's flow (a record received before its partition was lost counts as a
 * redelivery); ready records go to the core's sink round-robin across partitions until the core
 * calls `pause()`; a delivery's ack or reject moves the partition's commit point, its requeue puts
 * it back at the head of its key. Commit points are committed on a timer, when a rebalance starts
 * and on stop, one commit at a time. The client is attached in the background, and outages are
 * retried with backoff until `stop()`, which commits, leaves the group and deletes an ephemeral one.
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
import type { ErrorSite } from './errors.js'
import type { ResolvedKafkaOptions } from './options.js'
import { type FlowEntry, PartitionFlow } from './partition-flow.js'

/** What a consumer needs from its driver (both clients' drivers give the same). */
export interface ConsumerHost {
  readonly options: ResolvedKafkaOptions
  ensureTopic(topic: string): Promise<void>
  /** Gives `group` committed offsets at the end (or start) of each partition where it has none. */
  prepareGroup(group: string, topic: string, fromBeginning: boolean): Promise<void>
  deleteGroup(group: string): Promise<void>
  lag(group: string, topic: string): Promise<ConsumerHealth | undefined>
  mapError(error: unknown, site: Omit<ErrorSite, 'brokers'>): SwitchyardError
  /** This consumer's group is rebalancing (`true`) or has an assignment again (`false`). */
  rebalancing(consumer: object, active: boolean): void
  /** The consumer lost its connection (it recovers by itself; the driver reports the outage). */
  disconnected(error: SwitchyardError): void
}

export interface ConsumerSpec {
  readonly topic: string
  /** The Kafka consumer group (a unique one for an ephemeral subscription). */
  readonly groupId: string
  /** Delete the group on stop (an ephemeral subscription). */
  readonly ephemeral: boolean
  readonly fromBeginning: boolean
  /** Unsettled deliveries the core holds before it pauses us. */
  readonly prefetch: number
}

/** A fetched record, as both clients give it (offset and timestamp as string or bigint). */
export interface KafkaRecordLike {
  readonly offset: string | bigint
  readonly timestamp: string | bigint
  readonly value: Buffer | null | undefined
}

/** One assigned partition of a consumer; each client adds what it tracks per partition. */
export interface PartitionState<R> {
  readonly partition: number
  readonly flow: PartitionFlow<R>
  /** The last commit point the broker accepted. */
  committed: number
  /** The partition was lost (rebalance, restart): settling its records does nothing. */
  abandoned: boolean
}

const emptyPayload = new Uint8Array(0)

/**
 * One record handed to the core: methods on a prototype rather than closures per record, because
 * this is allocated once per consumed message.
 */
class FlowDelivery<R extends KafkaRecordLike, S extends PartitionState<R>> implements RawDelivery {
  readonly message: Message
  readonly #consumer: KafkaConsumerBase<R, S>
  readonly #state: S
  readonly #entry: FlowEntry<R>

  constructor(consumer: KafkaConsumerBase<R, S>, state: S, entry: FlowEntry<R>, message: Message) {
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

/** The shared part of a Kafka driver consumer; see the module header. */
export abstract class KafkaConsumerBase<R extends KafkaRecordLike, S extends PartitionState<R>>
  implements DriverConsumer
{
  readonly spec: ConsumerSpec
  protected readonly host: ConsumerHost
  protected readonly sink: DeliverySink
  protected readonly partitions = new Map<number, S>()
  /** Records received and not yet handed to the core, over all partitions (ready or held back). */
  protected backlog = 0
  /** The attach (or re-attach) in progress; `stop()` waits for it, so no client is left behind. */
  protected starting: Promise<void> | undefined
  /** Per partition, the offset after the last record received before it was abandoned. */
  readonly #seenUpTo = new Map<number, number>()
  /** The core asked us to stop handing out records. */
  #paused = false
  /** Records are held back until the rebalance in progress assigns partitions (see {@link rebalanceStarted}). */
  #holding = false
  #holdTimer: ReturnType<typeof setTimeout> | undefined
  #pumping = false
  #pumpAgain = false
  #pumpQueued = false
  #ready = false
  #stopping = false
  #stopped: Promise<void> | undefined
  #commitTimer: ReturnType<typeof setTimeout> | undefined
  #committing: Promise<void> | undefined
  #restartDelayMs = 500
  /** Ends the backoff pause in progress, if any (on stop). */
  #wake: (() => void) | undefined

  constructor(host: ConsumerHost, spec: ConsumerSpec, sink: DeliverySink) {
    this.host = host
    this.spec = spec
    this.sink = sink
  }

  /** Creates the client's consumer, joins the group and starts fetching. */
  protected abstract run(): Promise<void>
  /** Whether attaching again may mend this failure (otherwise it fails the stream). */
  protected abstract retries(error: SwitchyardError): boolean
  /** Stop fetching before the last commit (on stop). */
  protected quiesce(): void {}
  /** Leave the group and close the client's consumer (on stop, after the last commit). */
  protected abstract detach(): Promise<void>
  /** Runs after each pump: the client fetches or pauses according to the backlog. */
  protected abstract afterPump(): void
  /** Copies the record's headers except the message id into `into`; returns the id, if any. */
  protected abstract readHeaders(record: R, into: { [name: string]: string }): string | undefined
  /** Commits these commit points; undefined when there is no client consumer to commit with. */
  protected abstract commitOffsets(points: readonly (readonly [S, number])[]): Promise<void> | undefined

  /**
   * Attaches the client's consumer in the background; outages are retried until `stop()`.
   * Anything else (the topic cannot be created) fails the stream through the sink.
   */
  start(): void {
    this.starting = this.#failUnlessStopping(this.#attach())
  }

  pause(): void {
    this.#paused = true
  }

  resume(): void {
    this.#paused = false
    this.pump()
  }

  /** Lag per partition, asked of the broker (absent when it cannot tell within 5 s). */
  async health(): Promise<ConsumerHealth> {
    return (await this.host.lag(this.spec.groupId, this.spec.topic)) ?? {}
  }

  /**
   * Pauses fetching, commits each partition's settled prefix, leaves the group and (ephemeral)
   * deletes it. Unsettled records are not committed, so Kafka delivers them again. Never rejects.
   */
  stop(): Promise<void> {
    if (this.#stopped === undefined) {
      this.#stopping = true
      this.#wake?.()
      this.interrupt()
      this.#stopped = this.#stop()
    }
    return this.#stopped
  }

  /** `stop()` was called. */
  protected get stopping(): boolean {
    return this.#stopping
  }

  /** Ends what waits or is scheduled in the client's part (called once, as `stop()` begins). */
  protected interrupt(): void {}

  /** Attaches again once `before` (closing the failed client) is done and a backoff pause is over. */
  protected reattach(before: Promise<void>): void {
    this.starting = this.#failUnlessStopping(
      (async () => {
        await before
        await this.backoff()
        if (this.#stopping) return
        await this.#attach()
      })(),
    )
  }

  /** Waits the next restart delay (or until `stop()`). */
  protected async backoff(): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, this.nextRestartDelay())
      this.#wake = () => {
        clearTimeout(timer)
        resolve()
      }
    })
    this.#wake = undefined
  }

  /** 0.5 s, doubling up to 5 s, until {@link resetBackoff}. */
  protected nextRestartDelay(): number {
    const delay = this.#restartDelayMs
    this.#restartDelayMs = Math.min(delay * 2, 5_000)
    return delay
  }

  /** The client is attached and assigned: the next failure starts from the shortest delay again. */
  protected resetBackoff(): void {
    this.#restartDelayMs = 500
  }

  /**
   * A rebalance starts. Kafka still accepts commits of the ending generation: commit now, so that a
   * partition that moves is not redelivered from an older offset than necessary.
   *
   * `hold`: for a client whose stream keeps fetching the old assignment until the join
   * (platformatic's classic groups), nothing is handed out until {@link assigned}, so a record of a
   * partition about to move is left to its next owner instead of being handled twice. A join that
   * never comes ends the hold after the rebalance timeout, the broker's own bound.
   */
  protected rebalanceStarted(hold = false): void {
    if (hold) {
      this.#holding = true
      clearTimeout(this.#holdTimer)
      this.#holdTimer = setTimeout(() => {
        this.#endHold()
        this.pump()
      }, this.host.options.rebalanceTimeoutMs)
      this.#holdTimer.unref?.()
    }
    this.host.rebalancing(this, true)
    clearTimeout(this.#commitTimer)
    this.#commitTimer = undefined
    void this.#commit()
  }

  /** The group assigned partitions to this member: the rebalance is over, records flow. */
  protected assigned(): void {
    this.#endHold()
    this.host.rebalancing(this, false)
    if (!this.#ready) {
      this.#ready = true
      this.sink.ready()
    }
    this.pump()
  }

  /** Abandons the partitions not in `assigned` (the group gave them to another member). */
  protected abandonUnassigned(assigned: ReadonlySet<number>): void {
    for (const state of [...this.partitions.values()]) {
      if (!assigned.has(state.partition)) this.abandon(state)
    }
  }

  /** Abandons every partition (the client failed; its records come again from the commit points). */
  protected abandonAll(): void {
    this.#endHold()
    for (const state of [...this.partitions.values()]) this.abandon(state)
  }

  /** Whether records are held back for a rebalance in progress: a client stops reading meanwhile. */
  protected get holding(): boolean {
    return this.#holding
  }

  #endHold(): void {
    this.#holding = false
    clearTimeout(this.#holdTimer)
    this.#holdTimer = undefined
  }

  /**
   * Drops a partition's state: settling its records becomes a no-op and nothing past them is
   * committed; the new owner receives them from the commit point.
   */
  protected abandon(state: S): void {
    state.abandoned = true
    const next = state.flow.next
    if (next !== undefined)
      this.#seenUpTo.set(state.partition, Math.max(next, this.#seenUpTo.get(state.partition) ?? 0))
    this.backlog -= state.flow.readyCount + state.flow.heldCount
    this.partitions.delete(state.partition)
  }

  /** The state of an assigned partition, created on its first record with the client's `extra` fields. */
  protected partitionState(partition: number, extra: () => Omit<S, keyof PartitionState<R>>): S {
    let state = this.partitions.get(partition)
    if (state === undefined) {
      state = { partition, flow: new PartitionFlow<R>(), committed: -1, abandoned: false, ...extra() } as S
      this.partitions.set(partition, state)
    }
    return state
  }

  /**
   * Adds a fetched record to its partition's flow (a record already received is ignored). Received
   * before by this subscription (the partition came back after a rebalance or a client restart): a
   * redelivery, so its attempt says so.
   */
  protected receive(state: S, offset: number, key: string | undefined, record: R): void {
    const entry = state.flow.receive(offset, key, record)
    if (entry === undefined) return
    if (offset < (this.#seenUpTo.get(state.partition) ?? -1)) entry.attempt = 2
    this.backlog++
  }

  /** Hands ready records to the core round-robin across partitions until it pauses us. */
  protected pump(): void {
    if (this.#pumping) {
      this.#pumpAgain = true
      return
    }
    this.#pumping = true
    try {
      do {
        this.#pumpAgain = false
        let progressed = true
        while (progressed && !this.#stopping && !this.#paused && !this.#holding) {
          progressed = false
          for (const state of this.partitions.values()) {
            if (this.#paused || this.#stopping || this.#holding) break
            const entry = state.flow.take()
            if (entry === undefined) continue
            progressed = true
            this.backlog--
            this.sink.deliver(this.#delivery(state, entry))
          }
        }
      } while (this.#pumpAgain)
    } finally {
      this.#pumping = false
    }
    this.afterPump()
  }

  /**
   * Ack or reject of a delivery (Kafka has no per-record reject: both settle). Settling a record of
   * a partition this consumer lost (or after stop) does nothing: the new owner receives it from the
   * commit point.
   */
  settle(state: S, entry: FlowEntry<R>): undefined {
    if (state.abandoned || this.#stopping) return
    const freed = state.flow.settle(entry)
    if (this.#commitTimer === undefined) this.#scheduleCommit()
    // Only a held-back record of the same key may have become ready: the backlog is unchanged
    // otherwise, and when the core resumes us it pumps itself.
    if (freed) this.#queuePump()
  }

  /** Back at the head of its key (the key stays taken), delivered again with attempt + 1. */
  requeue(state: S, entry: FlowEntry<R>): undefined {
    if (state.abandoned || this.#stopping) return
    state.flow.requeue(entry)
    this.backlog++
    this.#queuePump()
  }

  protected map(error: unknown, operation: string): SwitchyardError {
    return this.host.mapError(error, { operation, topic: this.spec.topic, group: this.spec.groupId })
  }

  #failUnlessStopping(attach: Promise<void>): Promise<void> {
    return attach.catch((error: unknown) => {
      if (!this.#stopping) this.sink.fail(this.map(error, 'subscribe'))
    })
  }

  async #attach(): Promise<void> {
    const { topic, groupId } = this.spec
    while (!this.#stopping) {
      try {
        await this.host.ensureTopic(topic)
        await this.host.prepareGroup(groupId, topic, this.spec.fromBeginning)
        if (this.#stopping) return
        await this.run()
        return
      } catch (error) {
        const mapped = this.map(error, 'subscribe')
        if (this.#stopping || !this.retries(mapped)) throw mapped
        if (mapped.name === 'BrokerUnavailableError') this.host.disconnected(mapped)
        await this.backoff()
      }
    }
  }

  async #stop(): Promise<void> {
    // Let a start in progress finish (or give up) first, so that no consumer is left behind.
    await this.starting
    this.quiesce()
    this.#endHold()
    clearTimeout(this.#commitTimer)
    await this.#commit()
    this.host.rebalancing(this, false)
    await this.detach()
    if (this.spec.ephemeral) await this.host.deleteGroup(this.spec.groupId).catch(() => undefined)
  }

  /** Pumps once the current settle has returned to the core (a key it freed may have a record waiting). */
  #queuePump(): void {
    if (this.#pumpQueued) return
    this.#pumpQueued = true
    queueMicrotask(() => {
      this.#pumpQueued = false
      if (!this.#stopping) this.pump()
    })
  }

  #delivery(state: S, entry: FlowEntry<R>): RawDelivery {
    const record = entry.record
    const headers: { [name: string]: string } = {}
    const id = this.readHeaders(record, headers)
    const value = record.value
    const message: Message = {
      id: id ?? `${this.spec.topic}-${state.partition}-${record.offset}`,
      topic: this.spec.topic,
      key: entry.key,
      headers,
      payload:
        value == null ? emptyPayload : new Uint8Array(value.buffer, value.byteOffset, value.byteLength),
      timestamp: Number(record.timestamp),
      attempt: entry.attempt,
    }
    return new FlowDelivery(this, state, entry, message)
  }

  #scheduleCommit(): void {
    if (this.#commitTimer !== undefined || this.#stopping) return
    this.#commitTimer = setTimeout(() => {
      this.#commitTimer = undefined
      void this.#commit()
    }, this.host.options.commitIntervalMs)
  }

  /** Commits each partition's commit point that moved; one commit at a time. Never throws. */
  async #commit(): Promise<void> {
    while (this.#committing) await this.#committing
    const points: [S, number][] = []
    for (const state of this.partitions.values()) {
      const point = state.flow.commitPoint()
      if (point === undefined || point <= state.committed) continue
      points.push([state, point])
    }
    if (points.length === 0) return
    const committing = this.commitOffsets(points)
    if (committing === undefined) return
    this.#committing = committing
      .then(() => {
        for (const [state, point] of points) if (point > state.committed) state.committed = point
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
}
