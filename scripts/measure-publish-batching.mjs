// Measures the loop users write — one `publish` per event, all awaited together — with publish
// batching on (the defaults) and off (`maxBatchMessages: 1`), on one transport. Not a test and not
// the benchmark suite: a quick local figure for the batching change.
//
//   node scripts/measure-publish-batching.mjs memory|kafka|rabbitmq [events=20000] [rounds=3] [batched options as JSON]
//
// Run Kafka and RabbitMQ only under the broker lock:
//   flock /tmp/switchyard-brokers.lock node scripts/measure-publish-batching.mjs kafka
// Needs a build (`npx turbo run build`). Every round is bounded by the event count and a deadline.
import { randomBytes, randomUUID } from 'node:crypto'
import { kafkaConnection, rabbitmqConnection } from '@switchyard/brokers'
import { KafkaTransport } from '@switchyard/kafka'
import { MemoryTransport } from '@switchyard/memory'
import { RabbitMqTransport } from '@switchyard/rabbitmq'

const kind = process.argv[2] ?? 'memory'
const events = Number(process.argv[3] ?? 20_000)
const rounds = Number(process.argv[4] ?? 3)
const batchedOptions = JSON.parse(process.argv[5] ?? '{}')
const deadlineMs = 120_000
const payloadBytes = 100

function makeTransport(runtime) {
  if (kind === 'memory') return new MemoryTransport({}, runtime)
  if (kind === 'kafka') {
    return new KafkaTransport({ brokers: kafkaConnection.brokers, clientId: 'switchyard-measure' }, runtime)
  }
  if (kind === 'rabbitmq') return new RabbitMqTransport({ url: rabbitmqConnection.url }, runtime)
  throw new Error(`unknown transport ${kind}: use memory, kafka or rabbitmq`)
}

function message(topic, i) {
  return {
    topic,
    id: randomUUID(),
    key: `k${i % 64}`,
    timestamp: Date.now(),
    headers: {},
    payload: randomBytes(payloadBytes),
  }
}

/** msg/s of `events` concurrent single publishes on a fresh transport and topic. */
async function round(label, runtime) {
  const transport = makeTransport(runtime)
  const topic = `measure.batching.${randomUUID().slice(0, 8)}`
  try {
    await transport.connect()
    await transport.provision(topic, { groups: ['measure'] })
    await transport.publish([message(topic, 0)]) // warm: topic metadata, channel
    const batch = Array.from({ length: events }, (_, i) => message(topic, i))
    let timer
    const deadline = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${label}: not done within ${deadlineMs} ms`)), deadlineMs)
    })
    const started = performance.now()
    await Promise.race([Promise.all(batch.map((m) => transport.publish([m]))), deadline])
    const ms = performance.now() - started
    clearTimeout(timer)
    return Math.round((events / ms) * 1_000)
  } finally {
    await transport.deprovision(topic, { groups: ['measure'] }).catch(() => undefined)
    await transport.close({ drain: false })
  }
}

const modes = [
  ['unbatched (maxBatchMessages: 1)', { maxBatchMessages: 1 }],
  [`batched ${JSON.stringify(batchedOptions)}`, batchedOptions],
]
const results = new Map(modes.map(([label]) => [label, []]))
for (let r = 0; r < rounds; r++) {
  for (const [label, runtime] of modes) results.get(label).push(await round(label, runtime))
}
console.log(
  `${kind}: ${events} x ${payloadBytes} B, await Promise.all(events.map(publish)), ${rounds} rounds`,
)
for (const [label, figures] of results) {
  const sorted = [...figures].sort((a, b) => a - b)
  const median = sorted[Math.floor(sorted.length / 2)]
  console.log(`  ${label.padEnd(32)} median ${median} msg/s  (rounds: ${figures.join(', ')})`)
}
process.exit(0)
