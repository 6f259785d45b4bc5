/**
 * The two Kafka clients behind `KafkaTransport` side by side: the same `Bus` code with
 * `client: 'kafkajs'` and with `client: 'platformatic'` (@platformatic/kafka), same options, same
 * topics (3 partitions), interleaved in one run so their ratio is taken under the same load.
 *
 * `node bench/dist/kafka-drivers.js [--quick] [--save <file.json>]` — needs a Node that runs
 * @platformatic/kafka (>= 22.22 / >= 24.6; `scripts/bench.sh` runs it with Node 22 from
 * `scripts/node-lines.sh`) and the brokers lock. Each measurement runs in a fresh process
 * (`--worker <client> <case>`), the client that goes first alternates per round, the median of
 * the rounds is reported. Cases:
 * - `publish.batched`: `publishBatch` of 1,000 × 100 B, awaited one after the other;
 * - `publish.concurrent`: one `publish` per message, all awaited together (coalesced by the core);
 * - `consume.c16`: a topic filled beforehand, consumed with ack at concurrency 16, timed from the
 *   first delivery to the last.
 */
import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { kafkaConnection } from '@switchyard/brokers'
import { Bus, bytesCodec } from '@switchyard/core'
import { KafkaTransport } from '@switchyard/kafka'
import { consumeWithBus } from './bus-consumer.js'

type ClientName = 'kafkajs' | 'platformatic'
type CaseName = 'publish.batched' | 'publish.concurrent' | 'consume.c16'
const clients: readonly ClientName[] = ['kafkajs', 'platformatic']
const cases: readonly CaseName[] = ['publish.batched', 'publish.concurrent', 'consume.c16']

const quick = process.argv.includes('--quick')
const counts: Record<CaseName, number> = quick
  ? { 'publish.batched': 50_000, 'publish.concurrent': 20_000, 'consume.c16': 50_000 }
  : { 'publish.batched': 200_000, 'publish.concurrent': 20_000, 'consume.c16': 150_000 }
const rounds = quick ? 1 : 3
const payload = new Uint8Array(100).fill(120)

function transport(client: ClientName): KafkaTransport {
  return new KafkaTransport({
    brokers: kafkaConnection.brokers,
    clientId: `bench-${client}`,
    client,
    partitions: 3,
    sessionTimeoutMs: 30_000,
    heartbeatIntervalMs: 1_000,
    maxWaitTimeMs: 200,
    maxBytesPerPartition: 1024 * 1024,
    commitIntervalMs: 250,
  })
}

async function fill(bus: Bus, topic: string, count: number): Promise<void> {
  for (let sent = 0; sent < count; sent += 1000) {
    const n = Math.min(1000, count - sent)
    await bus.publishBatch(Array.from({ length: n }, () => ({ topic, payload })))
  }
}

/** One measurement in this process: messages per second. */
async function measure(client: ClientName, name: CaseName): Promise<number> {
  const t = transport(client)
  const bus = new Bus(t, { codec: bytesCodec })
  const topic = `bench.drivers.${client}.${randomUUID()}`
  const group = `bench-${randomUUID()}`
  const count = counts[name]
  try {
    await t.provision(topic, { groups: [group] })
    // Warm-up on the same topic: connections, metadata, JIT.
    await fill(bus, topic, 5_000)
    if (name === 'publish.batched') {
      const started = performance.now()
      await fill(bus, topic, count)
      return count / ((performance.now() - started) / 1000)
    }
    if (name === 'publish.concurrent') {
      const started = performance.now()
      await Promise.all(Array.from({ length: count }, () => bus.publish(topic, payload)))
      return count / ((performance.now() - started) / 1000)
    }
    await fill(bus, topic, count - 5_000)
    let received = 0
    let first = 0
    let last = 0
    let done: () => void = () => undefined
    const all = new Promise<void>((resolve) => {
      done = resolve
    })
    const handle = await consumeWithBus(bus, topic, { group, fromBeginning: true }, 16, () => {
      if (received === 0) first = performance.now()
      received++
      if (received === count) {
        last = performance.now()
        done()
      }
    })
    const timeout = setTimeout(done, 120_000)
    await all
    clearTimeout(timeout)
    await handle.stop()
    if (received < count) throw new Error(`consumed ${received} of ${count} within 120 s`)
    return count / ((last - first) / 1000)
  } finally {
    await bus.close({ drain: false })
    const cleaner = transport('kafkajs')
    await cleaner.deprovision(topic, { groups: [group] }).catch(() => undefined)
    await cleaner.close({ drain: false })
  }
}

function runWorker(client: ClientName, name: CaseName): Promise<number> {
  const script = fileURLToPath(import.meta.url)
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [script, '--worker', client, name, ...(quick ? ['--quick'] : [])],
      { timeout: 300_000, maxBuffer: 1 << 20 },
      (error, stdout, stderr) => {
        const line = stdout.split('\n').find((l) => l.startsWith('RESULT '))
        if (error || line === undefined)
          reject(new Error(`${client} ${name}: ${error?.message ?? ''} ${stderr}`))
        else resolve(Number(line.slice(7)))
      },
    )
  })
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}
const k = (n: number): string => `${Math.round(n / 1000).toLocaleString('en-US')} k`

async function main(): Promise<void> {
  const results: Record<string, Record<ClientName, number[]>> = {}
  for (let round = 0; round < rounds; round++) {
    for (const [index, name] of cases.entries()) {
      const order = (round + index) % 2 === 0 ? clients : [...clients].reverse()
      for (const client of order) {
        const rate = await runWorker(client, name)
        results[name] ??= { kafkajs: [], platformatic: [] }
        results[name][client].push(rate)
        process.stderr.write(
          `kafka-drivers: round ${round + 1} ${name} ${client}: ${Math.round(rate)} msg/s\n`,
        )
      }
    }
  }
  const lines = [
    `Node ${process.versions.node}, ${rounds} round(s), medians (min–max), msg/s of 100 B:`,
    '',
    '| case | kafkajs | @platformatic/kafka | platformatic ÷ kafkajs |',
    '|---|---:|---:|---:|',
  ]
  for (const name of cases) {
    const r = results[name] as Record<ClientName, number[]>
    const cell = (v: number[]): string => `${k(median(v))} (${k(Math.min(...v))}–${k(Math.max(...v))})`
    const ratio = median(r.platformatic) / median(r.kafkajs)
    lines.push(
      `| \`${name}\` × ${counts[name].toLocaleString('en-US')} | ${cell(r.kafkajs)} | ${cell(r.platformatic)} | ${ratio.toFixed(2)}× |`,
    )
  }
  process.stdout.write(`${lines.join('\n')}\n`)
  const save = process.argv.indexOf('--save')
  if (save > 0 && process.argv[save + 1]) {
    writeFileSync(
      process.argv[save + 1] as string,
      JSON.stringify({ node: process.versions.node, rounds, counts, results }, null, 2),
    )
  }
}

if (process.argv[2] === '--worker') {
  measure(process.argv[3] as ClientName, process.argv[4] as CaseName).then(
    (rate) => {
      process.stdout.write(`RESULT ${rate}\n`)
      process.exit(0)
    },
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
      process.exit(1)
    },
  )
} else {
  main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`)
    process.exit(1)
  })
}
