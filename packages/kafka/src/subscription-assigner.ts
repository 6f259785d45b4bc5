/**
 * A partition assigner that respects what each member subscribed to.
 *
 * Switchyard maps a group onto one Kafka consumer group, and a service may subscribe the same
 * group to several topics through separate subscriptions (one kafkajs consumer each). kafkajs'
 * built-in round-robin assigner hands out the partitions of every topic any member subscribed to
 * across all members, so a consumer can be given partitions of a topic it does not read, which
 * then nobody consumes. This assigner gives each topic's partitions only to members subscribed to
 * that topic, round-robin, rotating the starting member per topic to spread the load. (kafkajs
 * also gives the assigner only the leader's topics and metadata; this one reads every member's.)
 */
import kafkajs, { type GroupMemberAssignment, type PartitionAssigner } from 'kafkajs'

const { AssignerProtocol } = kafkajs

/** Protocol name announced to the group coordinator. */
export const subscriptionAssignerName = 'SwitchyardSubscriptionRoundRobin'

/** Assigns partitions (`partitionsOf(topic)`) to members by their subscriptions; pure. */
export function assignBySubscription(
  members: readonly { readonly memberId: string; readonly topics: readonly string[] }[],
  partitionsOf: (topic: string) => readonly number[],
): Map<string, Record<string, number[]>> {
  const readers = new Map<string, string[]>()
  const assignment = new Map<string, Record<string, number[]>>()
  for (const member of members) {
    assignment.set(member.memberId, {})
    for (const topic of member.topics) {
      const list = readers.get(topic)
      if (list) list.push(member.memberId)
      else readers.set(topic, [member.memberId])
    }
  }
  let rotation = 0
  for (const topic of [...readers.keys()].sort()) {
    const ids = [...new Set(readers.get(topic))].sort()
    const partitions = [...partitionsOf(topic)].sort((a, b) => a - b)
    partitions.forEach((partition, i) => {
      const target = assignment.get(ids[(i + rotation) % ids.length] as string) as Record<string, number[]>
      const list = target[topic]
      if (list) list.push(partition)
      else target[topic] = [partition]
    })
    rotation += partitions.length
  }
  return assignment
}

/** The kafkajs `PartitionAssigner` built on {@link assignBySubscription}. */
export const subscriptionAssigner: PartitionAssigner = ({ cluster }) => ({
  name: subscriptionAssignerName,
  version: 0,
  async assign({ members }): Promise<GroupMemberAssignment[]> {
    const decoded = members.map((m) => ({
      memberId: m.memberId,
      topics: AssignerProtocol.MemberMetadata.decode(m.memberMetadata)?.topics ?? [],
    }))
    // kafkajs refreshes the leader's metadata for its own topics only: load the others' too.
    const topics = [...new Set(decoded.flatMap((m) => m.topics))]
    await cluster.addMultipleTargetTopics(topics)
    const assignment = assignBySubscription(decoded, (topic) =>
      cluster.findTopicPartitionMetadata(topic).map((p) => p.partitionId),
    )
    return decoded.map(({ memberId }) => ({
      memberId,
      memberAssignment: AssignerProtocol.MemberAssignment.encode({
        version: 0,
        assignment: assignment.get(memberId) ?? {},
        userData: Buffer.alloc(0),
      }),
    }))
  },
  protocol({ topics }) {
    return {
      name: subscriptionAssignerName,
      metadata: AssignerProtocol.MemberMetadata.encode({ version: 0, topics, userData: Buffer.alloc(0) }),
    }
  },
})
