/**
 * CPU time per consumed Kafka message, Switchyard (`Bus` over `KafkaTransport`) against raw kafkajs
 * (not part of `npm run bench`; needs Kafka up and the brokers lock). On a shared machine wall-clock
 * rates swing with the neighbours' load; `process.cpuUsage()` from the first to the last message
 * moves far less, so it can compare two versions of the consume path:
 *
 *   flock /tmp/switchyard-brokers.lock node bench/dist/kafka-consume-cpu.js [--reps 3] [--count 150000]
 *
 * Fills a topic (3 partitions, `count` × 100 B with the two headers Switchyard sends), then consumes
 * all of it with a new group from the beginning, alternating Switchyard and raw at concurrency 1 and
 * 16, each run in its own process (the settings and handlers of `kafka-clients.ts`). To compare an
 * older build, run it with `SWITCHYARD_BENCH_OVERRIDE` pointing `@switchyard/core`, `@switchyard/core/spi`
 * and `@switchyard/kafka` at that build's dist (see `esm-hooks.ts`).
 */
import { execFileSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { register } from 'node:module'
import { fileURLToPath } from 'node:url'
import { kafkaConnection } from '@switchyard/brokers'
import { Kafka, logLevel } from 'kafkajs'
import type { Side } from './client.js'

const settings = {
  sessionTimeout: 30_000,
  heartbeatInterval: 1_000,
  maxWaitTimeInMs: 200,
  maxBytesPerPartition: 1_048_576,
}

interface Sample {
  readonly side: Side
  readonly concurrency: number
  readonly rate: number
  readonly cpuUsPerMessage: number
}

async function fill(kafka: Kafka, count: number): Promise<string> {
  const topic = `cpu-${randomUUID().slice(0, 8)}`
  const admin = kafka.admin()
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  await Promise.all([admin.connect(), producer.connect()])
  await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true })
  const value = Buffer.alloc(100)
  for (let sent = 0; sent < count; sent += 1000) {
    const messages = Array.from({ length: Math.min(1000, count - sent) }, () => ({
      value,
      headers: { 'x-switchyard-id': randomUUID(), 'content-type': 'application/octet-stream' },
    }))
    await producer.sendBatch({ acks: -1, topicMessages: [{ topic, messages }] })
  }
  await Promise.all([admin.disconnect(), producer.disconnect()])
  return topic
}

/** One consumer run in this process; prints one JSON sample. */
async function consumeOnce(side: Side, topic: string, concurrency: number, count: number): Promise<void> {
  let received = 0
  let first = 0
  let last = 0
  let cpu: NodeJS.CpuUsage | undefined
  let usage: NodeJS.CpuUsage = { user: 0, system: 0 }
  let finish: () => void = () => undefined
  const finished = new Promise<void>((resolve) => {
    finish = resolve
  })
  const onMessage = (): void => {
    const now = performance.now()
    if (received === 0) {
      first = now
      cpu = process.cpuUsage()
    }
    last = now
    if (++received === count) {
      usage = process.cpuUsage(cpu)
      finish()
    }
  }
  const group = `g-${randomUUID().slice(0, 8)}`
  let stop: () => Promise<void>
  if (side === 'switchyard') {
    const { Bus, bytesCodec } = await import('@switchyard/core')
    const { KafkaTransport } = await import('@switchyard/kafka')
    const { consumeWithBus } = await import('./bus-consumer.js')
    const transport = new KafkaTransport({
      brokers: kafkaConnection.brokers,
      clientId: 'bench-cpu',
      sessionTimeoutMs: settings.sessionTimeout,
      heartbeatIntervalMs: settings.heartbeatInterval,
      maxWaitTimeMs: settings.maxWaitTimeInMs,
      maxBytesPerPartition: settings.maxBytesPerPartition,
      commitIntervalMs: 250,
    })
    const bus = new Bus(transport, { codec: bytesCodec })
    const handle = await consumeWithBus(bus, topic, { group, fromBeginning: true }, concurrency, onMessage)
    stop = async () => {
      await handle.stop()
      await bus.close({ drain: false })
    }
  } else {
    const kafka = new Kafka({
      brokers: kafkaConnection.brokers,
      clientId: 'bench-cpu',
      logLevel: logLevel.NOTHING,
    })
    const consumer = kafka.consumer({ groupId: group, ...settings, allowAutoTopicCreation: false })
    await consumer.connect()
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    const handled = async (): Promise<void> => {
      await null
      onMessage()
    }
    await consumer.run({
      autoCommit: true,
      autoCommitInterval: 250,
      eachBatchAutoResolve: true,
      partitionsConsumedConcurrently: 1,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        const messages = batch.messages
        for (let i = 0; i < messages.length && isRunning() && !isStale(); i += concurrency) {
          const slice = messages.slice(i, i + concurrency)
          if (concurrency === 1) onMessage()
          else await Promise.all(slice.map(handled))
          resolveOffset((slice.at(-1) as (typeof messages)[number]).offset)
        }
        await heartbeat()
      },
    })
    stop = () => consumer.disconnect()
  }
  await finished
  const sample: Sample = {
    side,
    concurrency,
    rate: Math.round(((received - 1) * 1000) / (last - first)),
    cpuUsPerMessage: Number(((usage.user + usage.system) / received).toFixed(2)),
  }
  process.stdout.write(`${JSON.stringify(sample)}\n`)
  await stop()
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2)
  if (argv[0] === '--run') {
    register(new URL('./esm-hooks.js', import.meta.url))
    await consumeOnce(argv[1] as Side, argv[2] as string, Number(argv[3]), Number(argv[4]))
    process.exit(0)
  }
  const at = (flag: string, fallback: number): number => {
    const i = argv.indexOf(flag)
    return i >= 0 ? Number(argv[i + 1]) : fallback
  }
  const reps = at('--reps', 3)
  const count = at('--count', 150_000)
  const kafka = new Kafka({
    brokers: kafkaConnection.brokers,
    clientId: 'bench-cpu',
    logLevel: logLevel.NOTHING,
  })
  const topic = await fill(kafka, count)
  const samples: Sample[] = []
  try {
    for (let rep = 0; rep < reps; rep++) {
      for (const concurrency of [1, 16]) {
        for (const side of ['switchyard', 'raw'] as const) {
          const args = [
            fileURLToPath(import.meta.url),
            '--run',
            side,
            topic,
            String(concurrency),
            String(count),
          ]
          const line = execFileSync(process.execPath, args, { encoding: 'utf8', timeout: 120_000 }).trim()
          const sample = JSON.parse(line.split('\n').at(-1) as string) as Sample
          samples.push(sample)
          process.stderr.write(`${line}\n`)
        }
      }
    }
  } finally {
    const admin = kafka.admin()
    await admin.connect()
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined)
    await admin.disconnect()
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number
  console.log('| side | concurrency | CPU µs per message (median) | msg/s (median) |')
  console.log('|---|--:|--:|--:|')
  for (const concurrency of [1, 16]) {
    for (const side of ['switchyard', 'raw'] as const) {
      const mine = samples.filter((s) => s.side === side && s.concurrency === concurrency)
      console.log(
        `| ${side} | ${concurrency} | ${median(mine.map((s) => s.cpuUsPerMessage))} | ${median(mine.map((s) => s.rate)).toLocaleString('en-US')} |`,
      )
    }
  }
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
