/**
 * `inspectRedis`: the transport's streams and their consumer groups, for `Transport.inspect`, from
 * `SCAN`, `XLEN` and `XINFO` alone (read-only: it creates no stream, group or consumer).
 */
import { type Inspection, type InspectOptions, isTopicName } from '@switchyard/core/spi'
import { type Client, pairs, replyCode } from './connection.js'
import { parkingConsumer } from './redis-consumer.js'

/** The reply, or `undefined` when the stream or group does not exist (any more) or the key is no stream. */
const unlessGone = <T>(reply: Promise<unknown>): Promise<T | undefined> =>
  reply.then(
    (value) => value as T,
    (error: unknown) => {
      if (replyCode(error) && /no such key|NOGROUP|WRONGTYPE/.test((error as Error).message)) return undefined
      throw error
    },
  )

/** Topics of the streams under `prefix`; other keys, and streams no topic could name, are left out. */
async function topicNames(client: Client, prefix: string): Promise<string[]> {
  const match = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`
  const names = new Set<string>()
  let cursor = '0'
  do {
    const scan = ['SCAN', cursor, 'MATCH', match, 'COUNT', '1000', 'TYPE', 'stream']
    const [next, keys] = (await client.sendCommand(scan)) as [string, string[]]
    cursor = next
    for (const key of keys) if (isTopicName(key.slice(prefix.length))) names.add(key.slice(prefix.length))
  } while (cursor !== '0')
  return [...names].sort()
}

/** Lag: undelivered (`lag`; `nil` when Redis cannot tell) plus pending. The parking consumer is not counted. */
async function groupInfo(client: Client, key: string, topic: string, row: Record<string, unknown>) {
  const group = String(row.name)
  const consumers = await unlessGone<unknown[][]>(client.sendCommand(['XINFO', 'CONSUMERS', key, group]))
  if (consumers === undefined) return undefined
  const lag = typeof row.lag === 'number' ? { lag: row.lag + Number(row.pending) } : {}
  return {
    group,
    topic,
    ...lag,
    consumers: consumers.filter((c) => pairs(c).name !== parkingConsumer).length,
  }
}

async function inspectStream(client: Client, prefix: string, topic: string, wanted?: readonly string[]) {
  const key = prefix + topic
  const [length, rows] = await Promise.all([
    client.sendCommand<number>(['XLEN', key]),
    unlessGone<unknown[][]>(client.sendCommand(['XINFO', 'GROUPS', key])),
  ])
  if (rows === undefined) return undefined
  const named = rows.map(pairs).filter((row) => wanted === undefined || wanted.includes(String(row.name)))
  const groups = await Promise.all(named.map((row) => groupInfo(client, key, topic, row)))
  return { topic: { name: topic, messages: length }, groups: groups.filter((g) => g !== undefined) }
}

export async function inspectRedis(
  client: Client,
  prefix: string,
  options: InspectOptions,
): Promise<Omit<Inspection, 'at'>> {
  const names = options.topic === undefined ? await topicNames(client, prefix) : [options.topic]
  const found = await Promise.all(names.map((name) => inspectStream(client, prefix, name, options.groups)))
  const streams = found.filter((stream) => stream !== undefined)
  return {
    topics: streams.map((stream) => stream.topic),
    groups: streams.flatMap((stream) => stream.groups.sort((a, b) => a.group.localeCompare(b.group))),
    complete: true,
  }
}
