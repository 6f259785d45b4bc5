/**
 * Failover after a crash, against the real Kafka of `@switchyard/brokers`: a consumer in its own
 * OS process (`fixtures/consumer-worker.mjs`, importing the built package) is killed with SIGKILL
 * — no LeaveGroup, no commit — and the other member of its group must be consuming the dead
 * member's partitions within 10 s with the transport's DEFAULT options (the group notices the
 * death only when the session timeout passes). A bound from the "done when", not a speed
 * target: it holds with a wide margin at the default session timeout (6 s).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { kafkaConnection } from '@switchyard/brokers'
import { ensureBuilt, expectSwitchyardError, waitFor, withDeadline } from '@switchyard/contract'
import { Kafka, logLevel, type Producer } from 'kafkajs'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { kafkaFixtures } from './kafka-fixtures.js'

const here = dirname(fileURLToPath(import.meta.url))
const packageDir = join(here, '..', '..')
const worker = join(here, 'fixtures', 'consumer-worker.mjs')
const partitions = 3

interface Worker {
  readonly child: ChildProcess
  readonly events: { type: string; partition?: number; message?: string }[]
}

// Registered before this file's own afterEach, so it runs after it: workers are killed first.
const { transport, topicName, groupName } = kafkaFixtures('switchyard-kafka-test')
const children: ChildProcess[] = []
const cleanups: (() => Promise<void>)[] = []

function startWorker(topic: string, group: string): Worker {
  const args = [worker, kafkaConnection.brokers.join(','), topic, group]
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] })
  children.push(child)
  const events: Worker['events'] = []
  let buffer = ''
  child.stdout?.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('utf8')
    for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
      events.push(JSON.parse(buffer.slice(0, i)) as Worker['events'][number])
      buffer = buffer.slice(i + 1)
    }
  })
  return { child, events }
}

afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL')
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

describe('KafkaTransport failover', () => {
  beforeAll(() => ensureBuilt(packageDir), 120_000)

  it('a member killed with SIGKILL: the other one consumes its partitions within 10 s, by default', async () => {
    const topic = topicName('kafka.failover')
    const group = groupName('g')
    // Default options: the bound is about what a user gets without tuning anything.
    const survivor = transport()
    await survivor.provision(topic, { groups: [group] })

    const producer: Producer = new Kafka({
      brokers: kafkaConnection.brokers,
      clientId: 'switchyard-kafka-test',
      logLevel: logLevel.NOTHING,
    }).producer()
    await producer.connect()
    cleanups.push(() => producer.disconnect())
    // One message to every partition every 100 ms, so each member sees traffic on what it owns.
    let n = 0
    let producing = true
    const produced = (async () => {
      while (producing) {
        const messages = Array.from({ length: partitions }, (_, partition) => ({
          partition,
          value: JSON.stringify({ partition, n: n++ }),
        }))
        await producer.send({ topic, messages })
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    })()
    cleanups.push(async () => {
      producing = false
      await produced
    })

    const crashing = startWorker(topic, group)
    await waitFor(() => crashing.events.some((e) => e.type === 'ready'), {
      timeoutMs: 60_000,
      description: () => `the worker to join (${JSON.stringify(crashing.events.slice(-3))})`,
    })

    const seen: { partition: number; at: number }[] = []
    let failed: unknown
    const text = new TextDecoder()
    let joined = false
    const subscription = survivor.subscribe(topic, { group, onReady: () => (joined = true) }).subscribe({
      next: (delivery) => {
        const { partition } = JSON.parse(text.decode(delivery.message.payload)) as { partition: number }
        seen.push({ partition, at: Date.now() })
        void delivery.ack()
      },
      error: (error: unknown) => (failed = error),
    })
    cleanups.push(async () => subscription.unsubscribe())

    // Both members own partitions. The survivor's are those it receives from (one message per
    // partition every 100 ms); the worker owns the rest and keeps receiving from them.
    await waitFor(
      () => {
        if (failed !== undefined) throw failed
        return joined && seen.length > 0
      },
      { timeoutMs: 60_000, description: 'the survivor to join and receive' },
    )
    const afterJoin = seen.length
    await waitFor(() => seen.length >= afterJoin + 4 * partitions, {
      timeoutMs: 30_000,
      description: 'the survivor to keep receiving',
    })
    const survivorOwns = new Set(seen.slice(afterJoin).map((s) => s.partition))
    const workerOwns = new Set(
      Array.from({ length: partitions }, (_, p) => p).filter((p) => !survivorOwns.has(p)),
    )
    expect(workerOwns.size).toBeGreaterThan(0)
    const mark = crashing.events.length
    await waitFor(
      () => {
        const since = new Set(crashing.events.slice(mark).map((e) => e.partition))
        return [...workerOwns].every((p) => since.has(p))
      },
      { timeoutMs: 30_000, description: () => `the worker to receive from ${[...workerOwns].join(', ')}` },
    )

    const killedAt = Date.now()
    crashing.child.kill('SIGKILL')
    await waitFor(() => seen.some((s) => s.at >= killedAt && workerOwns.has(s.partition)), {
      timeoutMs: 60_000,
      description: () => `the survivor to receive from partitions ${[...workerOwns].join(', ')}`,
    })
    const failoverMs = (seen.find((s) => s.at >= killedAt && workerOwns.has(s.partition))?.at ?? 0) - killedAt
    console.info(`failover after SIGKILL: ${failoverMs} ms (partitions ${[...workerOwns].join(', ')})`)
    expect(failoverMs).toBeLessThan(10_000)
  })

  it('a session timeout below what the broker allows ends the stream with ConfigError naming the option', async () => {
    const topic = topicName('kafka.session')
    const group = groupName('g')
    // 500 ms: below the test broker's group.min.session.timeout.ms (1 s; 6 s on a default
    // broker), so the group refuses the join.
    const t = transport({ sessionTimeoutMs: 500, heartbeatIntervalMs: 100 })
    await t.provision(topic, { groups: [group] })
    const ended = new Promise<never>((_resolve, reject) => {
      t.subscribe(topic, { group }).subscribe({ error: reject })
    })
    const error = await expectSwitchyardError(
      withDeadline(ended, 60_000, 'the stream to fail'),
      'ConfigError',
    )
    expect(error.message).toContain('sessionTimeoutMs')
    expect(error.message).toContain('group.min.session.timeout.ms')
  })
})
