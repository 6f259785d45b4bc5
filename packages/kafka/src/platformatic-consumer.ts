/**
 * `PlatformaticConsumer`: one driver consumer (one `subscribe` stream of the derived transport),
 * backed by one `@platformatic/kafka` consumer and its `MessagesStream`.
 *
 * The stream emits one record at a time; each goes into its partition's {@link PartitionFlow}
 * (shared with the kafkajs consumer), which holds a record back while an earlier one of its key is
 * unsettled and knows the contiguous settled prefix. Ready records go to the core's sink
 * round-robin across partitions until the core calls `pause()`. The stream is read in pull mode
 * (`read()` on `readable`): records are taken from it only while this subscription's backlog
 * (records received and not yet handed to the core) is below a high-water mark, and taken again
 * once it is down to half. A stream nobody reads stops fetching once its buffer is full, so what is
 * held is bounded by that mark plus the stream's buffer (one fetch at most). The library has no
 * per-partition pause: a busy key in one partition holds the others back once the backlog is full.
 * Offsets are committed on a timer by this class alone (the library's autocommit is off), only up
 * to each partition's commit point, and on rebalance and stop. A stream that fails (an outage) is
 * closed with its consumer and replaced, with backoff, until `stop()`; records received before are
 * then delivered again from the commit point. The group protocol is classic (with the same
 * partition assignment as the kafkajs driver, so both can share a group) or KIP-848 `consumer`.
 */
import type { Consumer, Message as KafkaMessage, MessagesStream } from '@platformatic/kafka'
import type {
  ConsumerHealth,
  DeliverySink,
  DriverConsumer,
  Message,
  RawDelivery,
  SwitchyardError,
} from '@switchyard/core/spi'
import { SwitchyardHeaders } from '@switchyard/core/spi'
import type { ErrorSite } from './errors.js'
import type { ConsumerSpec } from './kafka-consumer.js'
import type { ResolvedKafkaOptions } from './options.js'
import { type FlowEntry, PartitionFlow } from './partition-flow.js'
import type { PlatformaticKafka } from './platformatic-client.js'
import { assignBySubscription, subscriptionAssignerName } from './subscription-assigner.js'

type Record = KafkaMessage<string, Buffer, string, string>
type StringConsumer = Consumer<string, Buffer, string, string>
type Stream = MessagesStream<string, Buffer, string, string>

/** What a consumer needs from its driver. */
export interface PlatformaticHost {
  readonly lib: PlatformaticKafka
  readonly options: ResolvedKafkaOptions
  clientOptions(): object
  ensureTopic(topic: string): Promise<void>
  prepareGroup(group: string, topic: string, fromBeginning: boolean): Promise<void>
  deleteGroup(group: string): Promise<void>
  lag(group: string, topic: string): Promise<ConsumerHealth | undefined>
  mapError(error: unknown, site: Omit<ErrorSite, 'brokers'>): SwitchyardError
  rebalancing(consumer: object, active: boolean): void
  disconnected(error: SwitchyardError): void
}

interface PartitionState {
  readonly partition: number
  readonly flow: PartitionFlow<Record>
  committed: number
  leaderEpoch: number
  abandoned: boolean
}

/** Bytes fetched per request: kafkajs-sized (the library's 50 MB default is slower to first record). */
const maxFetchBytes = 10 * 1_048_576
/** Records received and not yet handed out at which reading the stream stops (at least prefetch). */
const backlogHighWater = 2_000
const emptyPayload = new Uint8Array(0)

export class PlatformaticConsumer implements DriverConsumer {
  readonly spec: ConsumerSpec
  readonly #host: PlatformaticHost
  readonly #sink: DeliverySink
  readonly #partitions = new Map<number, PartitionState>()
  readonly #seenUpTo = new Map<number, number>()
  readonly #highWater: number
  #consumer: StringConsumer | undefined
  #stream: Stream | undefined
  #pulling = false
  #backlog = 0
  #paused = false
  #pumping = false
  #pumpAgain = false
  #pumpQueued = false
  #ready = false
  #stopping = false
  #stopped: Promise<void> | undefined
  #starting: Promise<void> | undefined
  #commitTimer: ReturnType<typeof setTimeout> | undefined
  #committing: Promise<void> | undefined
  #restartDelayMs = 500
  #wake: (() => void) | undefined

  constructor(host: PlatformaticHost, spec: ConsumerSpec, sink: DeliverySink) {
    this.#host = host
    this.spec = spec
    this.#sink = sink
    this.#highWater = Math.max(backlogHighWater, spec.prefetch)
  }

  /** Attaches in the background; outages are retried until `stop()`, anything else fails the stream. */
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

  async health(): Promise<ConsumerHealth> {
    return (await this.#host.lag(this.spec.groupId, this.spec.topic)) ?? {}
  }

  /** Commits each partition's settled prefix, leaves the group, (ephemeral) deletes it. Never rejects. */
  stop(): Promise<void> {
    if (this.#stopped === undefined) {
      this.#stopping = true
      this.#wake?.()
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
        await this.#run()
        return
      } catch (error) {
        const mapped = this.#map(error, 'subscribe')
        if (this.#stopping || mapped.name === 'AuthenticationError' || mapped.name === 'UnknownTopicError')
          throw mapped
        if (mapped.name === 'BrokerUnavailableError') this.#host.disconnected(mapped)
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
    await this.#starting
    clearTimeout(this.#commitTimer)
    await this.#commit()
    this.#host.rebalancing(this, false)
    await this.#closeClient()
    if (this.spec.ephemeral) await this.#host.deleteGroup(this.spec.groupId).catch(() => undefined)
  }

  async #closeClient(): Promise<void> {
    const stream = this.#stream
    const consumer = this.#consumer
    this.#stream = undefined
    this.#consumer = undefined
    await stream?.close().catch(() => undefined)
    await consumer?.close(true).catch(() => undefined)
  }

  #nextRestartDelay(): number {
    const delay = this.#restartDelayMs
    this.#restartDelayMs = Math.min(delay * 2, 5_000)
    return delay
  }

  #newConsumer(): StringConsumer {
    const { lib, options } = this.#host
    const group =
      options.groupProtocol === 'consumer'
        ? { groupProtocol: 'consumer' as const, rebalanceTimeout: options.rebalanceTimeoutMs }
        : {
            sessionTimeout: options.sessionTimeoutMs,
            heartbeatInterval: options.heartbeatIntervalMs,
            rebalanceTimeout: options.rebalanceTimeoutMs,
            // The kafkajs driver's assignment, under its protocol name, so members of both share a group.
            protocols: [{ name: subscriptionAssignerName, version: 0 }],
            partitionAssigner: assignPartitions,
          }
    return new lib.Consumer<string, Buffer, string, string>({
      ...(this.#host.clientOptions() as { clientId: string; bootstrapBrokers: string[] }),
      groupId: this.spec.groupId,
      ...group,
      autocommit: false,
      maxWaitTime: options.maxWaitTimeMs,
      maxBytes: maxFetchBytes,
      maxBytesPerPartition: options.maxBytesPerPartition,
      deserializers: {
        key: lib.stringDeserializer,
        headerKey: lib.stringDeserializer,
        headerValue: lib.stringDeserializer,
      },
    })
  }

  async #run(): Promise<void> {
    const consumer = this.#newConsumer()
    this.#consumer = consumer
    const current = (): boolean => this.#consumer === consumer && !this.#stopping
    consumer.on('consumer:group:rebalance', () => {
      if (!current()) return
      this.#host.rebalancing(this, true)
      clearTimeout(this.#commitTimer)
      this.#commitTimer = undefined
      void this.#commit()
    })
    consumer.on('consumer:group:join', () => {
      if (current()) this.#onAssignment()
    })
    // An error the client reports outside a request: replace the client, as a failed stream does.
    consumer.on('error', (error: Error) => {
      if (current()) this.#onFailure(error)
    })
    let stream: Stream
    try {
      stream = await consumer.consume({
        topics: [this.spec.topic],
        mode: 'committed',
        fallbackMode: this.spec.fromBeginning ? 'earliest' : 'latest',
        autocommit: false,
      })
    } catch (error) {
      if (this.#consumer === consumer) this.#consumer = undefined
      await consumer.close(true).catch(() => undefined)
      throw error
    }
    if (this.#stopping) {
      await stream.close().catch(() => undefined)
      await consumer.close(true).catch(() => undefined)
      return
    }
    this.#stream = stream
    stream.on('readable', () => {
      if (current()) this.#pull()
    })
    // The group's assignment can change without a join event (KIP-848): check it on every fetch.
    stream.on('fetch', () => {
      if (current()) this.#dropUnassigned()
    })
    stream.on('error', (error: Error) => {
      if (current()) this.#onFailure(error)
    })
    this.#restartDelayMs = 500
    this.#onAssignment()
  }

  /** The stream or client failed: drop its partitions, report an outage, start a new client later. */
  #onFailure(error: Error): void {
    for (const state of [...this.#partitions.values()]) this.#abandon(state)
    const mapped = this.#map(error, 'consume')
    if (mapped.name === 'BrokerUnavailableError') this.#host.disconnected(mapped)
    if (mapped.name === 'AuthenticationError') {
      this.#sink.fail(mapped)
      return
    }
    const closing = this.#closeClient()
    this.#starting = (async () => {
      await closing
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.#nextRestartDelay())
        this.#wake = () => {
          clearTimeout(timer)
          resolve()
        }
      })
      this.#wake = undefined
      if (this.#stopping) return
      await this.#start()
    })().catch((e: unknown) => {
      if (!this.#stopping) this.#sink.fail(this.#map(e, 'subscribe'))
    })
  }

  #onAssignment(): void {
    if (this.#stopping) return
    this.#dropUnassigned()
    this.#host.rebalancing(this, false)
    if (!this.#ready) {
      this.#ready = true
      this.#sink.ready()
    }
    this.#pump()
  }

  /** Abandons the partitions the group no longer assigns to this member. */
  #dropUnassigned(): void {
    const assignments = this.#consumer?.assignments
    if (assignments == null) return
    const assigned = new Set(assignments.find((a) => a.topic === this.spec.topic)?.partitions ?? [])
    for (const state of [...this.#partitions.values()]) {
      if (!assigned.has(state.partition)) this.#abandon(state)
    }
  }

  #abandon(state: PartitionState): void {
    state.abandoned = true
    const next = state.flow.next
    if (next !== undefined)
      this.#seenUpTo.set(state.partition, Math.max(next, this.#seenUpTo.get(state.partition) ?? 0))
    this.#backlog -= state.flow.readyCount + state.flow.heldCount
    this.#partitions.delete(state.partition)
  }

  #receive(record: Record): void {
    let state = this.#partitions.get(record.partition)
    if (state === undefined) {
      state = {
        partition: record.partition,
        flow: new PartitionFlow<Record>(),
        committed: -1,
        leaderEpoch: record.leaderEpoch,
        abandoned: false,
      }
      this.#partitions.set(record.partition, state)
    }
    state.leaderEpoch = record.leaderEpoch
    const offset = Number(record.offset)
    const entry = state.flow.receive(offset, record.key ?? undefined, record)
    if (entry === undefined) return
    if (offset < (this.#seenUpTo.get(record.partition) ?? -1)) entry.attempt = 2
    this.#backlog++
  }

  /** Takes records from the stream while the backlog is below the high-water mark, then pumps. */
  #pull(): void {
    const stream = this.#stream
    if (stream === undefined || this.#pulling || this.#stopping) return
    this.#pulling = true
    try {
      while (this.#backlog < this.#highWater) {
        const record = stream.read() as Record | null
        if (record === null) break
        this.#receive(record)
      }
    } finally {
      this.#pulling = false
    }
    this.#pump()
  }

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
            this.#backlog--
            this.#sink.deliver(this.#delivery(state, entry))
          }
        }
      } while (this.#pumpAgain)
    } finally {
      this.#pumping = false
    }
    // Down to half the mark with records waiting in the stream: take more.
    const stream = this.#stream
    if (
      !this.#pulling &&
      stream !== undefined &&
      stream.readableLength > 0 &&
      this.#backlog <= this.#highWater >> 1
    )
      this.#pull()
  }

  #queuePump(): void {
    if (this.#pumpQueued) return
    this.#pumpQueued = true
    queueMicrotask(() => {
      this.#pumpQueued = false
      if (!this.#stopping) this.#pump()
    })
  }

  #delivery(state: PartitionState, entry: FlowEntry<Record>): RawDelivery {
    const record = entry.record
    const headers: { [name: string]: string } = {}
    let id: string | undefined
    for (const [name, value] of record.headers) {
      if (name === SwitchyardHeaders.messageId) id = value
      else headers[name] = value ?? ''
    }
    const value = record.value as Buffer | null | undefined
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
    const live = (): boolean => !state.abandoned && !this.#stopping
    const settle = (): undefined => {
      if (!live()) return
      // A held-back record of the key may become ready: it joins the backlog until handed out.
      const before = state.flow.readyCount + state.flow.heldCount
      state.flow.settle(entry)
      this.#backlog += state.flow.readyCount + state.flow.heldCount - before
      this.#scheduleCommit()
      this.#queuePump()
    }
    return {
      message,
      ack: settle,
      reject: settle,
      requeue: () => {
        if (!live()) return
        state.flow.requeue(entry)
        this.#backlog++
        this.#queuePump()
      },
    }
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
    const offsets: { topic: string; partition: number; offset: bigint; leaderEpoch: number }[] = []
    const states: [PartitionState, number][] = []
    for (const state of this.#partitions.values()) {
      const point = state.flow.commitPoint()
      if (point === undefined || point <= state.committed) continue
      offsets.push({
        topic: this.spec.topic,
        partition: state.partition,
        offset: BigInt(point),
        leaderEpoch: state.leaderEpoch,
      })
      states.push([state, point])
    }
    if (offsets.length === 0) return
    this.#committing = consumer
      .commit({ offsets })
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

/** The kafkajs driver's assignment ({@link assignBySubscription}) in the library's assigner shape. */
function assignPartitions(
  _current: string,
  members: Map<string, { topics?: string[] }>,
  _topics: Set<string>,
  metadata: { topics: Map<string, { partitionsCount: number }> },
): { memberId: string; assignments: Map<string, { topic: string; partitions: number[] }> }[] {
  const assignment = assignBySubscription(
    [...members].map(([memberId, m]) => ({ memberId, topics: m.topics ?? [] })),
    (topic) => Array.from({ length: metadata.topics.get(topic)?.partitionsCount ?? 0 }, (_, i) => i),
  )
  return [...assignment].map(([memberId, byTopic]) => ({
    memberId,
    assignments: new Map(
      Object.entries(byTopic).map(([topic, partitions]) => [topic, { topic, partitions }]),
    ),
  }))
}
