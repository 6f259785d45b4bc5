/**
 * Kafka crash measurement (not part of `npm run bench`; needs Kafka up and the brokers lock):
 *
 *   flock /tmp/switchyard-brokers.lock node bench/dist/kafka-crash.js [--intervals 50,250,1000] [--reps 3]
 *
 * A topic (3 partitions) is filled once with 450,000 × 100 B. For each `commitIntervalMs`, a consumer
 * in its own process reads it with a new group at full speed with the transport's defaults, acking
 * each message at once, and kills itself with SIGKILL right after its 300,000th ack: a real
 * `kill -9`, at a point where exactly how many messages it had acked is known. A replacement then
 * joins the same group and reads to the end of every partition. Reported per run:
 * - duplicates: messages the replacement received again (acked by the dead one, not committed);
 * - the dead consumer's rate before the kill (what a shorter interval costs);
 * - seconds from the kill to the replacement's first message (the session timeout at work).
 */
import { fork } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { kafkaConnection } from '@switchyard/brokers'
import { KafkaTransport } from '@switchyard/kafka'
import { Kafka, logLevel } from 'kafkajs'

const partitions = 3
const total = 450_000
const killAfter = 300_000
const perPartition = Math.ceil(total / partitions)

/** Payload: partition (1 byte), index within the partition (4 bytes), padding to 100 B. */
function payload(partition: number, index: number): Buffer {
  const b = Buffer.alloc(100)
  b.writeUInt8(partition, 0)
  b.writeUInt32BE(index, 1)
  return b
}

async function child(topic: string, group: string, interval: number, reportPath: string): Promise<void> {
  const transport = new KafkaTransport({
    brokers: kafkaConnection.brokers,
    clientId: 'bench-crash',
    commitIntervalMs: interval,
  })
  let acked = 0
  let first = 0
  transport.subscribe(topic, { group, fromBeginning: true }).subscribe((delivery) => {
    if (acked === 0) first = performance.now()
    void delivery.ack()
    if (++acked === killAfter) {
      const rate = Math.round(((acked - 1) * 1000) / (performance.now() - first))
      // Written synchronously (an IPC message might not leave before the kill).
      writeFileSync(reportPath, JSON.stringify({ rate, killedAt: Date.now() }))
      // Synchronously, right after the ack: no later commit can happen.
      process.kill(process.pid, 'SIGKILL')
    }
  })
}

interface Run {
  readonly interval: number
  readonly duplicates: number
  readonly rate: number
  readonly failoverS: number
}

interface Shared {
  readonly kafka: Kafka
  readonly topic: string
}

/** Creates the topic and fills it, each partition with `perPartition` records numbered from 0. */
async function fill(): Promise<Shared> {
  const kafka = new Kafka({
    brokers: kafkaConnection.brokers,
    clientId: 'bench-crash',
    logLevel: logLevel.NOTHING,
  })
  const admin = kafka.admin()
  const producer = kafka.producer()
  await Promise.all([admin.connect(), producer.connect()])
  const topic = `crash-${randomBytes(4).toString('hex')}`
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true })
  for (let start = 0; start < perPartition; start += 1000) {
    await producer.sendBatch({
      acks: -1,
      topicMessages: [
        {
          topic,
          messages: Array.from({ length: partitions * Math.min(1000, perPartition - start) }, (_, i) => ({
            partition: i % partitions,
            value: payload(i % partitions, start + Math.floor(i / partitions)),
          })),
        },
      ],
    })
  }
  await Promise.all([admin.disconnect(), producer.disconnect()])
  return { kafka, topic }
}

async function once({ kafka, topic }: Shared, interval: number): Promise<Run> {
  const group = `g-${randomBytes(4).toString('hex')}`
  const reportPath = join(tmpdir(), `${group}.json`)
  const worker = fork(fileURLToPath(import.meta.url), ['--child', topic, group, String(interval), reportPath])
  const signal = await new Promise<NodeJS.Signals | null>((resolve) =>
    worker.once('exit', (_code, signal) => resolve(signal)),
  )
  if (signal !== 'SIGKILL')
    throw new Error(`the consumer process ended with ${signal ?? worker.exitCode}, not SIGKILL`)
  const report = JSON.parse(readFileSync(reportPath, 'utf8')) as { rate: number; killedAt: number }
  rmSync(reportPath)

  const replacement = new KafkaTransport({ brokers: kafkaConnection.brokers, clientId: 'bench-crash' })
  const last = new Array<number>(partitions).fill(-1)
  let received = 0
  let firstAt = 0
  await new Promise<void>((resolve) => {
    const sub = replacement.subscribe(topic, { group, fromBeginning: true }).subscribe((delivery) => {
      if (received++ === 0) firstAt = Date.now()
      const p = Buffer.from(delivery.message.payload)
      const partition = p.readUInt8(0)
      last[partition] = Math.max(last[partition] as number, p.readUInt32BE(1))
      void delivery.ack()
      if (last.every((index) => index === perPartition - 1)) {
        sub.unsubscribe()
        resolve()
      }
    })
  })
  await replacement.close({ drain: false })
  const admin = kafka.admin()
  await admin.connect()
  await admin.deleteGroups([group]).catch(() => undefined)
  await admin.disconnect()
  return {
    interval,
    duplicates: received - (partitions * perPartition - killAfter),
    rate: report.rate,
    failoverS: (firstAt - report.killedAt) / 1000,
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2)
  if (argv[0] === '--child') {
    await child(argv[1] as string, argv[2] as string, Number(argv[3]), argv[4] as string)
    return
  }
  const at = (flag: string): string | undefined => {
    const i = argv.indexOf(flag)
    return i >= 0 ? argv[i + 1] : undefined
  }
  const intervals = (at('--intervals') ?? '50,250,1000').split(',').map(Number)
  const reps = Number(at('--reps') ?? 3)
  const runs: Run[] = []
  const shared = await fill()
  try {
    for (let rep = 0; rep < reps; rep++) {
      // Interleaved, so that a drift in machine load does not favour one setting.
      for (const interval of intervals) {
        const run = await once(shared, interval)
        runs.push(run)
        process.stderr.write(`${JSON.stringify(run)}\n`)
      }
    }
  } finally {
    const admin = shared.kafka.admin()
    await admin.connect()
    await admin.deleteTopics({ topics: [shared.topic] }).catch(() => undefined)
    await admin.disconnect()
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number
  console.log(
    '| commitIntervalMs | duplicates after kill -9 (median, runs) | consume msg/s before the kill (median) | kill → replacement consuming, s (median) |',
  )
  console.log('|---:|---:|---:|---:|')
  for (const interval of intervals) {
    const mine = runs.filter((r) => r.interval === interval)
    const d = mine.map((r) => r.duplicates)
    console.log(
      `| ${interval} | ${median(d).toLocaleString('en-US')} (${d.join(', ')}) | ${median(mine.map((r) => r.rate)).toLocaleString('en-US')} | ${median(mine.map((r) => r.failoverS)).toFixed(1)} |`,
    )
  }
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
