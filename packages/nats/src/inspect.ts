/**
 * `inspectNats`: the topics of the prefix's stream (its subjects, with their message counts) and
 * the groups (durable consumers), for `Transport.inspect`, from stream and consumer info alone
 * (read-only: it creates nothing).
 */
import type { ConsumerInfo, JetStreamManager } from '@nats-io/jetstream'
import { type GroupInfo, type Inspection, type InspectOptions, topicMatches } from '@switchyard/core/spi'
import { describeTopic, durableName, filterOf, groupOf, topicOf } from './nats-message.js'

const described = describeTopic('')

/**
 * The group of a Switchyard group consumer: one of `wanted` when given, else read back from its
 * name (the name itself when it cannot be). Private consumers (an inactivity threshold) have none.
 */
function groupName(
  c: ConsumerInfo,
  topic: string,
  wanted: readonly string[] | undefined,
): string | undefined {
  if (c.config.inactive_threshold) return undefined
  if (wanted !== undefined) return wanted.find((g) => durableName(topic, g) === c.name)
  return groupOf(topic, c.name) ?? c.name
}

export async function inspectNats(
  jsm: JetStreamManager,
  stream: string,
  options: InspectOptions,
): Promise<Omit<Inspection, 'at'>> {
  const only = options.topic
  const filter = only === undefined ? `${stream}.>` : filterOf(stream, only).subject
  const info = await jsm.streams.info(stream, { subjects_filter: filter })
  const topics = Object.entries(info.state.subjects ?? {})
    .map(([subject, messages]) => ({ name: topicOf(stream, subject), messages }))
    .filter((t) => only === undefined || topicMatches(only, t.name))
    .sort((a, b) => a.name.localeCompare(b.name))
  const groups: GroupInfo[] = []
  for await (const c of jsm.consumers.list(stream)) {
    const topic = c.config.description?.startsWith(described)
      ? c.config.description.slice(described.length)
      : ''
    if (topic === '' || (only !== undefined && topic !== only)) continue
    const group = groupName(c, topic, options.groups)
    // Lag: not yet delivered (num_pending) plus delivered and not yet acknowledged (num_ack_pending).
    if (group !== undefined) groups.push({ group, topic, lag: c.num_pending + c.num_ack_pending })
  }
  groups.sort((a, b) => a.topic.localeCompare(b.topic) || a.group.localeCompare(b.group))
  return { topics, groups, complete: true }
}
