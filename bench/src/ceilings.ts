/**
 * The brokers' own performance tools as ceilings: Apache Kafka's `ProducerPerformance` and
 * `ConsumerPerformance` (kafka-tools) and RabbitMQ's PerfTest, run on the JVM from the jars that
 * scripts/bench.sh resolved through Maven into `<brokers state folder>/bench-tools/`.
 *
 * Each tool runs with the durability settings of the pair it caps (Kafka: acks=all, idempotence;
 * RabbitMQ: persistent messages on a durable queue with publisher confirms, the same confirm
 * window and prefetch), and otherwise its own defaults — it shows what the broker can do here,
 * not what a Node client could. Every run is bounded by a time limit.
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { brokersSettings, kafkaConnection, rabbitmqConnection } from '@switchyard/brokers'
import { connect } from 'amqplib'
import { Kafka, logLevel } from 'kafkajs'
import type { CaseOutcome } from './outcome.js'
import { batchOf, settingsOf, type TransportName } from './plan.js'

const toolsDir = join(brokersSettings.dir, 'bench-tools')
const kafkaTools = join(toolsDir, 'kafka-tools')
const perfTest = join(toolsDir, 'perf-test')

interface CeilingOptions {
  readonly quick: boolean
  readonly log: (line: string) => void
}

/** Runs `java` with a classpath folder; resolves with stdout, rejects on failure or after `timeoutMs`. */
function java(classpath: string, main: string, args: readonly string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      brokersSettings.javaCommand,
      ['-Xmx512m', '-XX:+UseParallelGC', '-cp', `${classpath}/*`, main, ...args],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let out = ''
    let err = ''
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString()
    })
    child.stderr.on('data', (c: Buffer) => {
      err = (err + c.toString()).slice(-3000)
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      if (code === 0) resolve(out)
      else {
        const why = signal === 'SIGKILL' ? `timed out after ${timeoutMs} ms` : `exited ${code ?? signal}`
        reject(new Error(`${main} ${why}: ${(err || out).trim().split('\n').slice(-4).join(' | ')}`))
      }
    })
  })
}

function attach(outcomes: CaseOutcome[], id: string, tool: string, values: readonly number[]): void {
  const outcome = outcomes.find((o) => o.spec.id === id)
  if (outcome !== undefined && values.length > 0) outcome.ceiling = { tool, values }
}

function fail(
  outcomes: CaseOutcome[],
  ids: readonly string[],
  error: unknown,
  log: (l: string) => void,
): void {
  const message = error instanceof Error ? error.message : String(error)
  log(`  ceiling failed: ${message}`)
  for (const id of ids) outcomes.find((o) => o.spec.id === id)?.errors.push(`ceiling: ${message}`)
}

/** Adds the ceiling figures to the outcomes of `transport` (memory has none). */
export async function ceilingsFor(
  transport: TransportName,
  outcomes: CaseOutcome[],
  options: CeilingOptions,
): Promise<void> {
  if (transport === 'kafka') await kafkaCeilings(outcomes, options)
  if (transport === 'rabbitmq') await rabbitCeilings(outcomes, options)
}

const unique = (): string => randomBytes(4).toString('hex')

async function kafkaCeilings(outcomes: CaseOutcome[], { quick, log }: CeilingOptions): Promise<void> {
  if (!existsSync(kafkaTools)) {
    fail(
      outcomes,
      ['kafka.publish.batched.100'],
      new Error(`${kafkaTools} is missing (run scripts/bench.sh)`),
      log,
    )
    return
  }
  const reps = quick ? 1 : 3
  const version = 'kafka-tools 4.3.1'
  const admin = new Kafka({
    brokers: kafkaConnection.brokers,
    clientId: 'bench-ceiling',
    logLevel: logLevel.NOTHING,
  }).admin()
  await admin.connect()
  const topics = { 100: `bench.ceiling.100.${unique()}`, 1024: `bench.ceiling.1024.${unique()}` }
  try {
    await admin.createTopics({
      topics: Object.values(topics).map((topic) => ({ topic, numPartitions: 3, replicationFactor: 1 })),
      waitForLeaders: true,
    })
    const bootstrap = kafkaConnection.brokers.join(',')
    for (const size of [100, 1024] as const) {
      const records = (size === 100 ? 1_000_000 : 300_000) / (quick ? 3 : 1)
      const values: number[] = []
      try {
        for (let i = 0; i < reps; i++) {
          const out = await java(
            kafkaTools,
            'org.apache.kafka.tools.ProducerPerformance',
            [
              '--bootstrap-server',
              bootstrap,
              '--topic',
              topics[size],
              '--num-records',
              String(Math.round(records)),
              '--record-size',
              String(size),
              '--throughput',
              '-1',
              '--reporting-interval',
              '600000',
              '--command-property',
              'acks=all',
              'enable.idempotence=true',
            ],
            120_000,
          )
          const lines = out.split('\n').filter((l) => / records sent, /.test(l))
          const match = /records sent, ([\d.]+) records\/sec/.exec(lines.at(-1) ?? '')
          if (match === null) throw new Error(`unexpected ProducerPerformance output: ${out.slice(-300)}`)
          values.push(Number(match[1]))
        }
        log(`  ceiling ProducerPerformance ${size} B: ${values.map((v) => Math.round(v)).join(', ')} msg/s`)
        attach(outcomes, `kafka.publish.batched.${size}`, `ProducerPerformance, ${version}`, values)
      } catch (error) {
        fail(outcomes, [`kafka.publish.batched.${size}`], error, log)
      }
    }
    const consumed: number[] = []
    try {
      for (let i = 0; i < reps; i++) {
        const out = await java(
          kafkaTools,
          'org.apache.kafka.tools.ConsumerPerformance',
          [
            '--bootstrap-server',
            bootstrap,
            '--topic',
            topics[100],
            '--num-records',
            String(Math.round(1_000_000 / (quick ? 3 : 1))),
            '--group',
            `bench-ceiling-${unique()}`,
            '--timeout',
            '30000',
          ],
          120_000,
        )
        const rows = out
          .trim()
          .split('\n')
          .filter((l) => l.includes(','))
        const header = rows
          .find((l) => l.includes('fetch.nMsg.sec'))
          ?.split(',')
          .map((c) => c.trim())
        const data = rows
          .at(-1)
          ?.split(',')
          .map((c) => c.trim())
        const index = header?.indexOf('fetch.nMsg.sec') ?? -1
        const value = index >= 0 ? Number(data?.[index]) : Number.NaN
        if (!Number.isFinite(value))
          throw new Error(`unexpected ConsumerPerformance output: ${out.slice(-300)}`)
        consumed.push(value)
      }
      log(`  ceiling ConsumerPerformance 100 B: ${consumed.map((v) => Math.round(v)).join(', ')} msg/s`)
      for (const id of ['kafka.consume.c1', 'kafka.consume.c16']) {
        attach(outcomes, id, `ConsumerPerformance, ${version}`, consumed)
      }
    } catch (error) {
      fail(outcomes, ['kafka.consume.c16'], error, log)
    }
  } finally {
    await admin.deleteTopics({ topics: Object.values(topics) }).catch(() => undefined)
    await admin.disconnect()
  }
}

async function rabbitCeilings(outcomes: CaseOutcome[], { quick, log }: CeilingOptions): Promise<void> {
  if (!existsSync(perfTest)) {
    fail(
      outcomes,
      ['rabbitmq.publish.batched.100'],
      new Error(`${perfTest} is missing (run scripts/bench.sh)`),
      log,
    )
    return
  }
  const reps = quick ? 1 : 3
  const seconds = quick ? 2 : 3
  const tool = 'PerfTest 2.22.1'
  const uri = rabbitmqConnection.url
  const queues: string[] = []
  const rates = (out: string, what: 'sending' | 'receiving'): number => {
    const match = new RegExp(`${what} rate avg: ([\\d.]+) msg/s`).exec(out)
    if (match === null) throw new Error(`unexpected PerfTest output: ${out.slice(-300)}`)
    return Number(match[1])
  }
  const perf = (args: readonly string[], timeoutMs = 90_000): Promise<string> =>
    java(perfTest, 'com.rabbitmq.perf.PerfTest', ['--uri', uri, ...args], timeoutMs)
  try {
    for (const size of [100, 1024]) {
      for (const [mode, window] of [
        ['awaited', 1],
        ['batched', batchOf('rabbitmq')],
      ] as const) {
        const id = `rabbitmq.publish.${mode}.${size}`
        try {
          const values: number[] = []
          for (let i = 0; i < reps; i++) {
            const queue = `bench-ceiling-${unique()}`
            queues.push(queue)
            const out = await perf([
              '-x',
              '1',
              '-y',
              '0',
              '-s',
              String(size),
              '-f',
              'persistent',
              '-c',
              String(window),
              '-u',
              queue,
              '-ad',
              'false',
              '-z',
              String(seconds),
            ])
            values.push(rates(out, 'sending'))
          }
          log(
            `  ceiling PerfTest publish ${size} B, confirm window ${window}: ${values.map(Math.round).join(', ')} msg/s`,
          )
          attach(outcomes, id, tool, values)
        } catch (error) {
          fail(outcomes, [id], error, log)
        }
      }
    }
    const count = Math.round(settingsOf('rabbitmq').consumeCount * (quick ? 0.5 : 1))
    for (const concurrency of [1, 16]) {
      const id = `rabbitmq.consume.c${concurrency}`
      try {
        const values: number[] = []
        for (let i = 0; i < reps; i++) {
          const queue = `bench-ceiling-${unique()}`
          queues.push(queue)
          await perf([
            '-x',
            '1',
            '-y',
            '0',
            '-s',
            '100',
            '-f',
            'persistent',
            '-c',
            String(batchOf('rabbitmq')),
            '-u',
            queue,
            '-ad',
            'false',
            '-C',
            String(count),
          ])
          const out = await perf([
            '-x',
            '0',
            '-y',
            '1',
            '-q',
            String(concurrency),
            '-u',
            queue,
            '-p',
            '-ad',
            'false',
            '-D',
            String(count),
            '-z',
            '60',
          ])
          values.push(rates(out, 'receiving'))
        }
        log(`  ceiling PerfTest consume, prefetch ${concurrency}: ${values.map(Math.round).join(', ')} msg/s`)
        attach(outcomes, id, tool, values)
      } catch (error) {
        fail(outcomes, [id], error, log)
      }
    }
  } finally {
    const model = await connect(uri)
    const channel = await model.createChannel()
    for (const queue of queues) await channel.deleteQueue(queue).catch(() => undefined)
    await model.close().catch(() => undefined)
  }
}
