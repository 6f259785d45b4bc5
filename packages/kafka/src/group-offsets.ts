/**
 * `GroupOffsetWriter`: commits offsets for a consumer group that has no running member, the way
 * Kafka's Java `AdminClient.alterConsumerGroupOffsets` does (OffsetCommit with generation -1).
 *
 * kafkajs' `admin.setOffsets` instead starts a consumer that joins the group, which costs a full
 * group join (and the broker's initial rebalance delay) per call. kafkajs has no public API for the
 * plain commit, so this module reaches its cluster factory through the client's private symbol,
 * and falls back to `admin.setOffsets` if a kafkajs version no longer has it. Used by `provision`.
 */
import type { Admin, Kafka } from 'kafkajs'

interface CoordinatorLike {
  offsetCommit(request: {
    groupId: string
    groupGenerationId: number
    memberId: string
    topics: { topic: string; partitions: { partition: number; offset: string }[] }[]
  }): Promise<unknown>
}

interface ClusterLike {
  connect(): Promise<void>
  disconnect(): Promise<void>
  findGroupCoordinator(group: { groupId: string }): Promise<CoordinatorLike>
}

type ClusterFactory = (options: Record<string, unknown>) => ClusterLike

export class GroupOffsetWriter {
  readonly #kafka: Kafka
  readonly #admin: Admin
  #cluster: Promise<ClusterLike | undefined> | undefined

  constructor(kafka: Kafka, admin: Admin) {
    this.#kafka = kafka
    this.#admin = admin
  }

  /** Commits `partitions` for `groupId`; the group must have no running member. */
  async commit(
    groupId: string,
    topic: string,
    partitions: { partition: number; offset: string }[],
  ): Promise<void> {
    const cluster = await this.#connect()
    if (cluster === undefined) {
      await this.#admin.setOffsets({ groupId, topic, partitions })
      return
    }
    const coordinator = await cluster.findGroupCoordinator({ groupId })
    await coordinator.offsetCommit({
      groupId,
      groupGenerationId: -1,
      memberId: '',
      topics: [{ topic, partitions }],
    })
  }

  async disconnect(): Promise<void> {
    const cluster = await this.#cluster?.catch(() => undefined)
    this.#cluster = undefined
    await cluster?.disconnect().catch(() => undefined)
  }

  #connect(): Promise<ClusterLike | undefined> {
    this.#cluster ??= (async () => {
      const symbol = Object.getOwnPropertySymbols(this.#kafka).find(
        (s) => s.description === 'private:Kafka:createCluster',
      )
      const factory = symbol && (this.#kafka as unknown as Record<symbol, unknown>)[symbol]
      if (typeof factory !== 'function') return undefined
      const cluster = (factory as ClusterFactory)({ allowAutoTopicCreation: false })
      await cluster.connect()
      return cluster
    })()
    const pending = this.#cluster
    pending.catch(() => {
      if (this.#cluster === pending) this.#cluster = undefined
    })
    return pending
  }
}
