/**
 * The chat example on real brokers: two room workers as their own processes (`node
 * dist/worker-process.js`, transport from a transport document, presence and history in etcd),
 * 20 users in 5 rooms, and worker-2 killed with SIGKILL half-way through the conversation. Every
 * message must be stored once and shown in room order; the killed worker's users must be gone
 * within the presence lease TTL.
 *
 * Needs Kafka, RabbitMQ and etcd (`npm run brokers -- up all`); run under the brokers lock.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import {
  etcdConnection,
  kafkaConnection,
  natsConnection,
  rabbitmqConnection,
  redisConnection,
} from '@switchyard/brokers'
import { Bus } from '@switchyard/core'
import { transportFactoryFor } from '@switchyard/core/spi'
import { EtcdConfigStore } from '@switchyard/etcd'
import { kafkaTransport } from '@switchyard/kafka'
import { natsTransport } from '@switchyard/nats'
import { rabbitmqTransport } from '@switchyard/rabbitmq'
import { redisTransport } from '@switchyard/redis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chatTopics, type Delivered, presence$, roomsGroup } from '../chat.js'
import { type ConversationPlan, checkRooms, converse, userName } from '../conversation.js'

const exampleDir = fileURLToPath(new URL('../../', import.meta.url))
const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url))
const ttlSeconds = 2

beforeAll(() => {
  execFileSync(
    'npx',
    ['turbo', 'run', 'build', '--output-logs=errors-only', '--filter=@switchyard-examples/chat...'],
    {
      cwd: repoRoot,
      stdio: 'inherit',
      timeout: 180_000,
    },
  )
}, 200_000)

/** Polls `condition` every 50 ms until it holds; throws after `timeoutMs` naming what was awaited. */
async function waitUntil(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

const children: ChildProcess[] = []
afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL')
})

/** Starts one worker process and resolves once it printed `ready`. */
function startWorker(name: string, env: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['dist/worker-process.js'], {
    cwd: exampleDir,
    env: { ...process.env, ...env, CHAT_WORKER: name },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.push(child)
  let output = ''
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} not ready in 60 s:\n${output}`)), 60_000)
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString()
      if (output.includes(`ready ${name}`)) {
        clearTimeout(timer)
        resolve(child)
      }
    })
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`${name} exited (${code}) before it was ready:\n${output}`))
    })
  })
}

const runs = [
  {
    name: 'kafka',
    document: { kind: 'kafka', brokers: kafkaConnection.brokers, clientId: 'chat' },
    spread: true,
  },
  {
    name: 'rabbitmq',
    document: { kind: 'rabbitmq', url: rabbitmqConnection.url },
    // `ordered` is a single active consumer on RabbitMQ: one worker handles every room, the other stands by.
    spread: false,
  },
  {
    name: 'redis',
    document: { kind: 'redis', url: redisConnection.url },
    // `ordered` is one active consumer per group on Redis (a lease key): the other worker stands by.
    spread: false,
  },
  {
    name: 'nats',
    document: { kind: 'nats', servers: natsConnection.servers },
    // `ordered` is `max_ack_pending` 1 on NATS: one message at a time in the group, on either worker.
    spread: false,
  },
] as const

describe.each(runs)('chat example on $name', ({ name, document, spread }) => {
  it('keeps every room in order when a worker is killed, and its users leave within the lease TTL', async () => {
    const run = `${name}-${randomBytes(3).toString('hex')}`
    const prefix = `chat-${run}`
    const namespace = `/switchyard-test/${run}/`
    const topics = chatTopics(prefix)
    const plan: ConversationPlan = { users: 20, rooms: 5, perUser: 10, pauseMs: 20, run, topicPrefix: prefix }
    const transport = transportFactoryFor(document.kind, [
      kafkaTransport,
      rabbitmqTransport,
      redisTransport,
      natsTransport,
    ]).create(document as never)
    const store = new EtcdConfigStore({ endpoints: etcdConnection.endpoints, namespace })
    const bus = new Bus(transport)
    try {
      await transport.provision(topics.posted, { groups: [roomsGroup] })
      await transport.provision(topics.delivered, { groups: ['chat-screen'] })
      const env = {
        CHAT_TRANSPORT: JSON.stringify(document),
        CHAT_ETCD: etcdConnection.endpoints.join(','),
        CHAT_NAMESPACE: namespace,
        CHAT_PREFIX: prefix,
        CHAT_TTL: String(ttlSeconds),
      }
      const users = Array.from({ length: plan.users }, (_, u) => userName(u))
      const first = () => startWorker('worker-1', { ...env, CHAT_USERS: users.slice(0, 10).join(',') })
      const second = () => startWorker('worker-2', { ...env, CHAT_USERS: users.slice(10).join(',') })
      // Where one worker handles every room (a single active consumer), worker-2 starts first, so it
      // is the active one and the kill takes the rooms' consumer away, not a standby.
      const doomed = spread ? (await Promise.all([first(), second()]))[1] : await second()
      if (!spread) await first()
      // Each user's presence as the observer sees it now (leader$ may start before etcd answered).
      const here = new Map<string, boolean>()
      /** When each user was last seen going absent (the kill is what we time it from). */
      const wentAt = new Map<string, number>()
      const watching = users.map((user) =>
        presence$(store, user).subscribe((present) => {
          here.set(user, present)
          if (!present) wentAt.set(user, Date.now())
        }),
      )
      await waitUntil(() => users.every((user) => here.get(user) === true), 15_000, 'every user present')

      const shown: Delivered[] = []
      const screen = bus.handle<Delivered>(topics.delivered, { group: 'chat-screen' }, (m) => {
        shown.push(m.payload)
      })
      await screen.ready
      const total = plan.users * plan.perUser
      let killedAt = 0
      const posts = await converse(bus, plan, (sent) => {
        // Half-way, and once worker-2 has stored something: the kill must cut into work it was doing.
        if (killedAt !== 0 || sent < total / 2) return
        if (!shown.some((d) => d.worker === 'worker-2')) return
        killedAt = Date.now()
        doomed.kill('SIGKILL')
      })
      await waitUntil(
        () => users.slice(10).every((user) => here.get(user) === false),
        30_000,
        "worker-2's users gone",
      )
      expect(killedAt).toBeGreaterThan(0)
      const presenceGoneMs = Math.max(
        ...users.slice(10).map((user) => (wentAt.get(user) ?? Number.NaN) - killedAt),
      )
      for (const w of watching) w.unsubscribe()
      const deadline = Date.now() + 120_000
      while (new Set(shown.map((d) => d.id)).size < total && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      await screen.stop()

      const report = await checkRooms(store, posts, shown)
      const storedBy: Record<string, number> = {}
      for (const d of shown) storedBy[d.worker] = (storedBy[d.worker] ?? 0) + 1
      console.info(
        `[chat ${name}] ${JSON.stringify({ presenceGoneMs, duplicates: report.duplicates, storedBy })}`,
      )
      expect(report.problems).toEqual([])
      expect(Object.values(report.rooms)).toEqual([40, 40, 40, 40, 40])
      expect(storedBy['worker-2']).toBeGreaterThan(0)
      // The survivor took over the rooms after the kill.
      expect(storedBy['worker-1']).toBeGreaterThan(0)
      // Gone within the lease TTL, plus the time etcd takes to notice an expired lease (its checks
      // run every 500 ms) and to tell the watcher.
      expect(presenceGoneMs).toBeLessThan(ttlSeconds * 1000 + 3_000)
      expect(users.slice(0, 10).every((user) => here.get(user) === true)).toBe(true)
    } finally {
      for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGTERM')
      await bus.close()
      await transport.deprovision(topics.posted).catch(() => undefined)
      await transport.deprovision(topics.delivered).catch(() => undefined)
      await transport.close()
      for (const room of ['room-1', 'room-2', 'room-3', 'room-4', 'room-5'])
        await store.delete(`rooms/${room}`)
      await store.close()
    }
  }, 240_000)
})
