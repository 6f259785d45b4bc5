/**
 * `PlatformaticConsumer`: one driver consumer (one `subscribe` stream of the derived transport),
 * backed by one `@platformatic/kafka` consumer and its `MessagesStream`.
 *
 * The partition flows, the hand-out to the core, settling, commit timing, backoff and stop are
 * {@link KafkaConsumerBase}'s (shared with the kafkajs consumer); this file maps them onto the
 * library. The stream is read in pull mode (`read()` on `readable`): records are taken from it only
 * while this subscription's backlog (records received and not yet handed to the core) is below a
 * high-water mark, and taken again once it is down to half. A stream nobody reads stops fetching
 * once its buffer is full, so what is held is bounded by that mark plus the stream's buffer (one
 * fetch at most). The library has no per-partition pause: a busy key in one partition holds the
 * others back once the backlog is full. Offsets are committed with `commit` (the library's
 * autocommit is off). A stream that fails (an outage) is closed with its consumer and replaced, with
 * backoff, until `stop()`; records received before are then delivered again from the commit point.
 * The group protocol is classic (with the same partition assignment as the kafkajs driver, so both
 * can share a group) or KIP-848 `consumer`.
 */
import type { Consumer, Message as KafkaMessage, MessagesStream } from '@platformatic/kafka'
import type { DeliverySink, SwitchyardError } from '@switchyard/core/spi'
import { SwitchyardHeaders } from '@switchyard/core/spi'
import {
  type ConsumerHost,
  type ConsumerSpec,
  KafkaConsumerBase,
  type PartitionState,
} from './kafka-consumer-base.js'
import type { PlatformaticKafka } from './platformatic-client.js'
import { assignBySubscription, subscriptionAssignerName } from './subscription-assigner.js'

type Record = KafkaMessage<string, Buffer, string, string>
type StringConsumer = Consumer<string, Buffer, string, string>
type Stream = MessagesStream<string, Buffer, string, string>

/** What the consumer needs of the library: the module and the driver's connection options. */
export interface PlatformaticLink {
  readonly lib: PlatformaticKafka
  clientOptions(): object
}

/** One assigned partition, with the leader epoch its commits carry. */
interface PlatformaticPartition extends PartitionState<Record> {
  leaderEpoch: number
}

/** Bytes fetched per request: kafkajs-sized (the library's 50 MB default is slower to first record). */
const maxFetchBytes = 10 * 1_048_576
/** Records received and not yet handed out at which reading the stream stops (at least prefetch). */
const backlogHighWater = 2_000

export class PlatformaticConsumer extends KafkaConsumerBase<Record, PlatformaticPartition> {
  readonly #link: PlatformaticLink
  readonly #highWater: number
  #consumer: StringConsumer | undefined
  #stream: Stream | undefined
  #pulling = false
  /** The partitions of the topic the group assigns to this member (unknown before the first join). */
  #assignedPartitions: ReadonlySet<number> | undefined

  constructor(host: ConsumerHost, link: PlatformaticLink, spec: ConsumerSpec, sink: DeliverySink) {
    super(host, spec, sink)
    this.#link = link
    this.#highWater = Math.max(backlogHighWater, spec.prefetch)
  }

  /** Everything but a refused login and a refused topic is retried (the library reports outages variously). */
  protected retries(error: SwitchyardError): boolean {
    return error.name !== 'AuthenticationError' && error.name !== 'UnknownTopicError'
  }

  protected detach(): Promise<void> {
    return this.#closeClient()
  }

  async #closeClient(): Promise<void> {
    const stream = this.#stream
    const consumer = this.#consumer
    this.#stream = undefined
    this.#consumer = undefined
    await stream?.close().catch(() => undefined)
    await consumer?.close(true).catch(() => undefined)
  }

  #newConsumer(): StringConsumer {
    const { lib } = this.#link
    const { options } = this.host
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
      ...(this.#link.clientOptions() as { clientId: string; bootstrapBrokers: string[] }),
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

  protected async run(): Promise<void> {
    const consumer = this.#newConsumer()
    this.#consumer = consumer
    const current = (): boolean => this.#consumer === consumer && !this.stopping
    // Classic groups: the stream goes on fetching the old assignment until the join, so records are
    // held back until then. KIP-848 groups have no join after a revocation (the library pauses its
    // streams and refreshes offsets itself, and `fetch` below drops what moved): no hold there.
    const holds = this.host.options.groupProtocol !== 'consumer'
    consumer.on('consumer:group:rebalance', () => {
      if (current()) this.rebalanceStarted(holds)
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
    if (this.stopping) {
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
    this.resetBackoff()
    this.#onAssignment()
  }

  /** The stream or client failed: drop its partitions, report an outage, start a new client later. */
  #onFailure(error: Error): void {
    this.#assignedPartitions = undefined
    this.abandonAll()
    const mapped = this.map(error, 'consume')
    if (mapped.name === 'BrokerUnavailableError') this.host.disconnected(mapped)
    if (mapped.name === 'AuthenticationError') {
      this.sink.fail(mapped)
      return
    }
    this.reattach(this.#closeClient())
  }

  #onAssignment(): void {
    if (this.stopping) return
    this.#dropUnassigned()
    this.assigned()
    this.#pull()
  }

  /** Abandons the partitions the group no longer assigns to this member. */
  #dropUnassigned(): void {
    const assignments = this.#consumer?.assignments
    if (assignments == null) return
    const assigned = new Set(assignments.find((a) => a.topic === this.spec.topic)?.partitions ?? [])
    this.#assignedPartitions = assigned
    this.abandonUnassigned(assigned)
  }

  #receive(record: Record): void {
    // Fetched before the partition moved to another member (the stream's buffer outlives the join):
    // its new owner reads it from the commit point. Should the partition come back, the join that
    // returns it makes the stream fetch again from the commit point, so nothing is skipped.
    if (this.#assignedPartitions !== undefined && !this.#assignedPartitions.has(record.partition)) return
    const state = this.partitionState(record.partition, () => ({ leaderEpoch: record.leaderEpoch }))
    state.leaderEpoch = record.leaderEpoch
    this.receive(state, Number(record.offset), record.key ?? undefined, record)
  }

  /** Takes records from the stream while the backlog is below the high-water mark, then pumps. */
  #pull(): void {
    const stream = this.#stream
    if (stream === undefined || this.#pulling || this.stopping || this.holding) return
    this.#pulling = true
    try {
      while (this.backlog < this.#highWater) {
        const record = stream.read() as Record | null
        if (record === null) break
        this.#receive(record)
      }
    } finally {
      this.#pulling = false
    }
    this.pump()
  }

  /** Down to half the mark with records waiting in the stream: take more. */
  protected afterPump(): void {
    const stream = this.#stream
    if (
      !this.#pulling &&
      stream !== undefined &&
      stream.readableLength > 0 &&
      this.backlog <= this.#highWater >> 1
    )
      this.#pull()
  }

  protected readHeaders(record: Record, into: { [name: string]: string }): string | undefined {
    let id: string | undefined
    for (const [name, value] of record.headers) {
      if (name === SwitchyardHeaders.messageId) id = value
      else into[name] = value ?? ''
    }
    return id
  }

  protected commitOffsets(
    points: readonly (readonly [PlatformaticPartition, number])[],
  ): Promise<void> | undefined {
    return this.#consumer?.commit({
      offsets: points.map(([state, point]) => ({
        topic: this.spec.topic,
        partition: state.partition,
        offset: BigInt(point),
        leaderEpoch: state.leaderEpoch,
      })),
    })
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
