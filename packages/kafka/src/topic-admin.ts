/**
 * `TopicAdmin`: the Kafka transport's admin-client work — creating topics on first use (cached),
 * fixing where a new group starts, computing consumer lag, deleting topics and groups. It neither
 * publishes nor consumes, and holds no subscription state.
 */
import { type SubscriptionHealth, type SwitchyardError, UnknownTopicError } from '@switchyard/core/spi'
import { ExponentialBackoff, handleWhen, retry } from 'cockatiel'
import type { Admin } from 'kafkajs'
import { type ErrorSite, isConnectionFailure } from './errors.js'
import type { GroupOffsetWriter } from './group-offsets.js'
import { partitionLag } from './inspect.js'
import type { ResolvedKafkaOptions } from './options.js'

export interface TopicAdminDeps {
  readonly admin: Admin
  readonly offsets: GroupOffsetWriter
  readonly options: ResolvedKafkaOptions
  readonly mapError: (error: unknown, site: Omit<ErrorSite, 'brokers'>) => SwitchyardError
}

/**
 * Right after a topic is created (or a broker restarted) Kafka answers admin offset requests with
 * retriable errors such as NOT_LEADER_OR_FOLLOWER or UNKNOWN_TOPIC_OR_PARTITION for a moment.
 * Those are retried with backoff for up to about 10 s; anything else fails at once. cockatiel is
 * the well-kept policy library the etcd adapter already uses.
 */
const whileLeadersSettle = retry(
  handleWhen((error) => (error as { retriable?: unknown }).retriable === true),
  { maxAttempts: 12, backoff: new ExponentialBackoff({ initialDelay: 50, maxDelay: 1_000 }) },
)

/**
 * A group's coordinator moves with its partition leader (a node restarted, a cut healed): deleting
 * groups meanwhile fails with a retriable coordinator error. Retried as leaders settle; a group that
 * does not exist is an answer, not a reason to retry.
 */
const whileCoordinatorMoves = retry(
  handleWhen(
    (error) => (error as { retriable?: unknown }).retriable === true && !hasOnly(error, 'GROUP_ID_NOT_FOUND'),
  ),
  { maxAttempts: 12, backoff: new ExponentialBackoff({ initialDelay: 50, maxDelay: 1_000 }) },
)

export class TopicAdmin {
  readonly #deps: TopicAdminDeps
  readonly #topics = new Map<string, Promise<void>>()

  constructor(deps: TopicAdminDeps) {
    this.#deps = deps
  }

  /** Creates `topic` unless it exists (once per transport; a failure is retried on the next call). */
  ensureTopic(topic: string): Promise<void> {
    let pending = this.#topics.get(topic)
    if (pending === undefined) {
      pending = this.#createTopic(topic)
      this.#topics.set(topic, pending)
      pending.catch(() => this.#topics.delete(topic))
    }
    return pending
  }

  /**
   * Gives `group` committed offsets on every partition of `topic` where it has none: the current end
   * (or the start with `fromBeginning`). Committing before any member joins fixes where a new
   * group starts, so `onReady` and `provision` mean "everything published from now on is seen".
   */
  async commitStartIfNone(group: string, topic: string, fromBeginning: boolean): Promise<void> {
    const { admin } = this.#deps
    const [committed] = await whileLeadersSettle.execute(() =>
      admin.fetchOffsets({ groupId: group, topics: [topic] }),
    )
    const has = new Set(
      (committed?.partitions ?? []).filter((p) => Number(p.offset) >= 0).map((p) => p.partition),
    )
    const ends = await whileLeadersSettle.execute(() => admin.fetchTopicOffsets(topic))
    const missing = ends.filter((e) => !has.has(e.partition))
    if (missing.length === 0) return
    try {
      await this.#deps.offsets.commit(
        group,
        topic,
        missing.map((e) => ({ partition: e.partition, offset: fromBeginning ? e.low : e.high })),
      )
    } catch (error) {
      // Refused because the group has running members: they own its offsets, which is fine.
      if (isConnectionFailure(error)) throw error
    }
  }

  /** Lag per partition of `groupId` on `topic`; undefined when the broker cannot tell within 5 s. */
  async lag(
    groupId: string,
    topic: string,
  ): Promise<Pick<SubscriptionHealth, 'lag' | 'partitions'> | undefined> {
    const { admin } = this.#deps
    const timeout = new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 5_000).unref())
    const ask = (async () => {
      const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] })
      const ends = await admin.fetchTopicOffsets(topic)
      const byPartition = new Map((committed?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]))
      return partitionLag(ends, byPartition)
    })().catch(() => undefined)
    return Promise.race([ask, timeout])
  }

  /** Deletes `topic` unless it is already gone, and forgets it so the next use creates it again. */
  async deleteTopic(topic: string): Promise<void> {
    await this.#topics.get(topic)?.catch(() => undefined)
    this.#topics.delete(topic)
    // kafkajs retries UNKNOWN_TOPIC_OR_PARTITION for its whole retry budget: ask first.
    if (!(await this.#deps.admin.listTopics()).includes(topic)) return
    try {
      await this.#deps.admin.deleteTopics({ topics: [topic] })
    } catch (error) {
      if (!hasOnly(error, 'UNKNOWN_TOPIC_OR_PARTITION')) throw error
    }
  }

  /** Deletes consumer groups; groups that do not exist are skipped. */
  async deleteGroups(groups: readonly string[]): Promise<void> {
    try {
      await whileCoordinatorMoves.execute(() => this.#deps.admin.deleteGroups([...groups]))
    } catch (error) {
      if (!hasOnly(error, 'GROUP_ID_NOT_FOUND')) throw error
    }
  }

  async #createTopic(topic: string): Promise<void> {
    const { admin, options } = this.#deps
    try {
      if (!options.createTopics) {
        const topics = await admin.listTopics()
        if (!topics.includes(topic)) throw new UnknownTopicError(topic, { context: { transport: 'kafka' } })
        return
      }
      // Right after creation (more so while other topics are being deleted) the metadata that
      // kafkajs reads to wait for leaders may still say UNKNOWN_TOPIC_OR_PARTITION: retried, and a
      // retry that finds the topic created counts as done (TOPIC_ALREADY_EXISTS below).
      await whileLeadersSettle.execute(() =>
        admin.createTopics({
          waitForLeaders: true,
          topics: [
            { topic, numPartitions: options.partitions, replicationFactor: options.replicationFactor },
          ],
        }),
      )
    } catch (error) {
      const already = (e: unknown): boolean =>
        (e as { type?: string })?.type === 'TOPIC_ALREADY_EXISTS' ||
        ((e as { errors?: unknown[] })?.errors ?? []).some(already)
      if (!already(error)) throw this.#deps.mapError(error, { operation: 'create topic', topic })
    }
  }
}

/** True when `error` (or every error it groups) is a kafkajs error of `type`. */
function hasOnly(error: unknown, type: string): boolean {
  const e = error as { type?: string; errors?: unknown[]; groups?: { error?: unknown }[] }
  if (e?.type === type) return true
  const nested = [...(e?.errors ?? []), ...(e?.groups ?? []).map((g) => g.error)].filter((n) => n != null)
  return nested.length > 0 && nested.every((n) => hasOnly(n, type))
}
