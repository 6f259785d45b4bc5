/**
 * Cluster fault scenarios: what a replicated broker cluster must survive through a transport, in
 * the middle of 10,000 messages from 100 publishers while a group consumer runs:
 *
 * - **leader kill**: the node that leads the test's topic or queue is killed with `kill -9` and
 *   started again later (a node stopped and restarted while the consumer runs);
 * - **network cut** (when the hooks can cut): that node is cut off the network while its process
 *   keeps running, then the cut heals. "Keeps its partitions on the healthy side" means: while the
 *   node is cut, the topic or queue is led by nodes on the side the clients still reach, and every
 *   message confirmed so far — before or during the cut — is consumed before the cut heals.
 *
 * Every message whose publish was confirmed must be consumed; publishing and consuming must resume;
 * the duplicates (redeliveries of messages already consumed) are counted and reported, not
 * forbidden (at-least-once). Registered by {@link clusterContract} only, with the adapter's hooks.
 */
import { isSwitchyardError, type OutgoingMessage, type Transport } from '@switchyard/core'
import { afterEach, describe, expect, it } from 'vitest'
import { ContractHarness } from './contract-harness.js'
import { resolveContractOptions, type TransportContractOptions } from './contract-options.js'
import { hundredPublishers } from './hundred-publishers.js'

/** How the scenarios act on the cluster behind a transport. */
export interface ClusterHooks {
  /**
   * Kills (`kill -9`, no clean shutdown) the node that leads `topic` for `group` — Kafka: the
   * leader of the topic's first partition; RabbitMQ: the leader of the group's quorum queue — and
   * resolves with that node's name once its process is gone.
   */
  killLeader(topic: string, group: string): Promise<string>
  /** Starts a killed node again and resolves once it is back in the cluster. */
  restartNode(node: string): Promise<void>
  /**
   * Cuts the node that leads `topic` for `group` off the network (nothing reaches it, it reaches
   * nothing; its process keeps running) and resolves with its name. Without it (and
   * {@link healCut} and {@link leaders}) the network-cut scenario is not registered.
   */
  cutLeader?(topic: string, group: string): Promise<string>
  /** Ends the cut and resolves once the cut node is back in the cluster. */
  healCut?(node: string): Promise<void>
  /**
   * The nodes that lead `topic` for `group` now (Kafka: every partition's leader; RabbitMQ: the
   * quorum queue's leader), asked of the cluster without going through node `cut`.
   */
  leaders?(topic: string, group: string, cut: string): Promise<string[]>
}

/** What one run of a fault scenario measured (printed by the test, for the notes). */
export interface ClusterFaultReport {
  readonly transport: string
  /** `kill`: `kill -9` and restart; `cut`: network cut and heal. */
  readonly fault: 'kill' | 'cut'
  /** The node killed or cut. */
  readonly node: string
  readonly confirmed: number
  readonly consumed: number
  readonly duplicates: number
  readonly publishRetries: number
  /** From the fault to the first publish confirmed after it (a publish started after the fault). */
  readonly publishResumedMs: number
  /** From the fault to the first delivery of a message published after the fault. */
  readonly consumeResumedMs: number
  /** Cut only: the leaders of the topic or queue while the node was cut. */
  readonly leadersDuringCut?: readonly string[]
  /** Cut only: from the cut to the moment every message confirmed so far had been consumed. */
  readonly caughtUpDuringCutMs?: number
}

/**
 * Registers the cluster fault scenarios for a transport whose factory reaches a three-node cluster.
 *
 * @example
 * clusterContract('kafka cluster', () => new KafkaTransport({ brokers: kafkaClusterConnection.brokers, replicationFactor: 3 }), {
 *   killLeader: (topic) => killPartitionLeader(topic),
 *   restartNode: (node) => kafkaClusterBroker.startNode(Number(node)),
 * }, { timeScale: 10 })
 */
export function clusterContract(
  name: string,
  makeTransport: () => Transport | Promise<Transport>,
  hooks: ClusterHooks,
  options: TransportContractOptions = {},
): void {
  const resolved = resolveContractOptions(options)
  describe(`cluster contract: ${name}`, async () => {
    const probe = await makeTransport()
    const capabilities = { ...probe.capabilities }
    await probe.close({ drain: false })
    const h = new ContractHarness(name, capabilities, resolved, makeTransport)
    afterEach(() => h.cleanup(), 120_000)
    registerLeaderKill(h, hooks)
    const { cutLeader, healCut, leaders } = hooks
    if (cutLeader && healCut && leaders) registerNetworkCut(h, { cutLeader, healCut, leaders })
  })
}

/** How one fault is made, what is checked while it lasts, and how it ends. */
interface Fault {
  readonly kind: 'kill' | 'cut'
  inject(topic: string, group: string): Promise<string>
  /** Runs once a message published after the fault was consumed, before {@link recover}. */
  during(run: FaultRun): Promise<Partial<ClusterFaultReport>>
  recover(node: string): Promise<void>
}

/** What {@link Fault.during} can see of the run. */
interface FaultRun {
  readonly topic: string
  readonly group: string
  readonly node: string
  readonly faultAt: number
  /** Messages confirmed so far. */
  readonly confirmed: ReadonlySet<string>
  /** Ids consumed so far. */
  readonly consumed: ReadonlySet<string>
}

function registerLeaderKill(h: ContractHarness, hooks: ClusterHooks): void {
  it(
    'consumes every confirmed message of 100 publishers when the leader node is killed and restarted',
    () =>
      runFault(h, {
        kind: 'kill',
        inject: (topic, group) => hooks.killLeader(topic, group),
        during: async () => ({}),
        recover: (node) => hooks.restartNode(node),
      }),
    420_000,
  )
}

function registerNetworkCut(
  h: ContractHarness,
  hooks: Required<Pick<ClusterHooks, 'cutLeader' | 'healCut' | 'leaders'>>,
): void {
  it(
    'keeps consuming on the healthy side when the leader node is cut off the network, loses nothing when it heals',
    () =>
      runFault(h, {
        kind: 'cut',
        inject: (topic, group) => hooks.cutLeader(topic, group),
        during: async (run) => {
          // Everything confirmed so far, before or during the cut, is consumed while the cut lasts.
          const pending = (): string[] => [...run.confirmed].filter((id) => !run.consumed.has(id))
          await h.waitFor(() => pending().length === 0, {
            timeoutMs: 180_000,
            description: () =>
              `every confirmed message consumed during the cut (${pending().length} not yet)`,
          })
          const caughtUpDuringCutMs = Date.now() - run.faultAt
          const leadersDuringCut = await hooks.leaders(run.topic, run.group, run.node)
          expect(leadersDuringCut.length).toBeGreaterThan(0)
          expect(leadersDuringCut).not.toContain(run.node)
          return { leadersDuringCut, caughtUpDuringCutMs }
        },
        recover: (node) => hooks.healCut(node),
      }),
    420_000,
  )
}

/**
 * 100 publishers × 100 messages: 40 % before the fault; 30 % paced so that publishing spans the
 * leaderless moment; the rest after the fault ended. The consumer consumes throughout.
 */
async function runFault(h: ContractHarness, fault: Fault): Promise<void> {
  const [producer, consumer] = await h.pair()
  const topic = h.topic('cluster')
  const group = h.group()
  await producer.provision(topic, { groups: [group] })
  let faultAt: number | undefined
  let publishResumedAt: number | undefined
  let consumeResumedAt: number | undefined
  /** Messages whose publish started after the fault: the first of them consumed marks the resume. */
  const publishedAfterFault = new Set<string>()
  const c = h.collect(consumer, topic, {
    group,
    inFlight: 256,
    timeoutMs: 240_000,
    settle: (d) => {
      if (consumeResumedAt === undefined && publishedAfterFault.has(d.message.id))
        consumeResumedAt = Date.now()
      return d.ack()
    },
  })
  await c.ready

  let retries = 0
  let lastRetryError: Error | undefined
  const confirmed = new Set<string>()
  const publishDeadline = Date.now() + 200_000
  // What an application does: publish again after a retryable failure, with backoff.
  const publishWithRetry = async (batch: readonly OutgoingMessage[]): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      const afterFault = faultAt !== undefined
      if (afterFault) for (const m of batch) publishedAfterFault.add(m.id)
      try {
        await producer.publish(batch)
        for (const m of batch) confirmed.add(m.id)
        if (afterFault) publishResumedAt ??= Date.now()
        return
      } catch (error) {
        if (!isSwitchyardError(error) || !error.retryable || Date.now() > publishDeadline) throw error
        retries++
        lastRetryError = error
        await new Promise((resolve) => setTimeout(resolve, Math.min(1_000, 50 * 2 ** attempt)))
      }
    }
  }
  const { run } = hundredPublishers(topic, publishWithRetry)
  const began = Date.now()
  /** Progress on stdout, so that a run that ends in a timeout still says how far it got. */
  const phase = (what: string): void =>
    console.info(
      `[cluster fault] ${h.name} ${fault.kind} +${Date.now() - began} ms: ${what} (confirmed ${confirmed.size}, consumed ${c.ids.size}, retries ${retries})`,
    )
  await run(0, 4, 0)
  const node = await fault.inject(topic, group)
  let recovered = false
  // A run that fails before the fault ends must not leave it behind: the cleanup (topics, groups)
  // and the next scenario need the whole cluster.
  h.track({
    close: async () => {
      if (!recovered) await fault.recover(node)
    },
  })
  const at = Date.now()
  faultAt = at
  phase(`${fault.kind} of node ${node}`)
  await run(4, 7, 100)
  phase(`published during the ${fault.kind} (last retry error: ${lastRetryError?.message})`)
  await h.waitFor(() => consumeResumedAt !== undefined, {
    timeoutMs: 120_000,
    description: () =>
      `a message published after the ${fault.kind} to be consumed (${retries} publish retries, last: ${lastRetryError?.message})`,
  })
  phase('consuming resumed')
  const during = await fault.during({ topic, group, node, faultAt: at, confirmed, consumed: c.ids })
  await fault.recover(node)
  recovered = true
  phase(`node ${node} back`)
  await run(7, 10, 0)
  phase('published the rest')
  await c.waitForIds(10_000, 240_000)

  expect(confirmed.size).toBe(10_000)
  for (const id of confirmed) expect(c.ids.has(id)).toBe(true)
  const report: ClusterFaultReport = {
    transport: h.name,
    fault: fault.kind,
    node,
    confirmed: confirmed.size,
    consumed: c.ids.size,
    duplicates: c.deliveries.length - c.ids.size,
    publishRetries: retries,
    publishResumedMs: (publishResumedAt as number) - at,
    consumeResumedMs: (consumeResumedAt as number) - at,
    ...during,
  }
  console.info(`[cluster fault] ${JSON.stringify(report)}`)
  expect(publishResumedAt).toBeDefined()
}
