/**
 * `inspectKafka`: topics and consumer groups with lag per partition, for `Transport.inspect`,
 * from the admin client alone (it joins no group and creates nothing).
 */
import type { GroupInfo, Inspection, InspectOptions, TopicInfo } from '@switchyard/core/spi'
import type { Admin } from 'kafkajs'

/** One partition's watermarks, as `admin.fetchTopicOffsets` returns them. */
export interface PartitionEnds {
  readonly partition: number
  readonly high: string
  readonly low: string
}

/**
 * Lag per partition of a group whose committed offsets are `committed` (partition → offset, -1
 * or absent when it never committed: counted from the low watermark), sorted by partition.
 */
export function partitionLag(
  ends: readonly PartitionEnds[],
  committed: ReadonlyMap<number, number>,
): { lag: number; partitions: { partition: number; lag: number }[] } {
  const partitions = ends
    .map((e) => {
      const at = committed.get(e.partition) ?? -1
      const start = at >= 0 ? at : Number(e.low)
      return { partition: e.partition, lag: Math.max(0, Number(e.high) - start) }
    })
    .sort((a, b) => a.partition - b.partition)
  return { lag: partitions.reduce((sum, p) => sum + p.lag, 0), partitions }
}

/** Kafka's own topics (`__consumer_offsets`, …) are not listed. */
const isInternal = (topic: string): boolean => topic.startsWith('__')

export async function inspectKafka(admin: Admin, options: InspectOptions): Promise<Omit<Inspection, 'at'>> {
  const names =
    options.topic === undefined
      ? (await admin.listTopics()).filter((t) => !isInternal(t)).sort()
      : (await admin.listTopics()).filter((t) => t === options.topic)
  const ends = new Map<string, PartitionEnds[]>()
  await Promise.all(
    names.map(async (name) => {
      ends.set(name, await admin.fetchTopicOffsets(name))
    }),
  )
  const topics: TopicInfo[] = names.map((name) => {
    const partitions = ends.get(name) ?? []
    const messages = partitions.reduce((sum, p) => sum + Math.max(0, Number(p.high) - Number(p.low)), 0)
    return { name, partitions: partitions.length, messages }
  })

  const listed = (await admin.listGroups()).groups.map((g) => g.groupId)
  const groupIds = listed.filter((g) => options.groups === undefined || options.groups.includes(g)).sort()
  const described = groupIds.length === 0 ? [] : (await admin.describeGroups(groupIds)).groups
  const members = new Map(described.map((g) => [g.groupId, g.members.length]))
  const perGroup = await Promise.all(
    groupIds.map(async (groupId) => {
      const offsets = await admin.fetchOffsets({ groupId })
      return offsets.flatMap(({ topic, partitions }): GroupInfo[] => {
        const topicEnds = ends.get(topic)
        if (topicEnds === undefined) return []
        const committed = new Map(partitions.map((p) => [p.partition, Number(p.offset)]))
        return [
          {
            group: groupId,
            topic,
            ...partitionLag(topicEnds, committed),
            consumers: members.get(groupId) ?? 0,
          },
        ]
      })
    }),
  )
  const groups = perGroup.flat()
  groups.sort((a, b) => a.topic.localeCompare(b.topic) || a.group.localeCompare(b.group))
  return { topics, groups, complete: true }
}
