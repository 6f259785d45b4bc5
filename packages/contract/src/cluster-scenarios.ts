/**
 * Cluster fault scenarios: what a replicated broker cluster must survive through a transport. A
 * node that leads the test's topic or queue is killed with `kill -9` in the middle of 10,000
 * messages from 100 publishers and started again later, while a group consumer runs. Every
 * message whose publish was confirmed must be consumed; publishing and consuming must resume; the
 * duplicates (redeliveries of messages already consumed) are counted and reported, not forbidden
 * (at-least-once). Registered by {@link clusterContract} only, with the adapter's cluster hooks.
 */
import { isSwitchyardError, type OutgoingMessage, type Transport } from '@switchyard/core'
import { afterEach, describe, expect, it } from 'vitest'
import { ContractHarness } from './contract-harness.js'
import { resolveContractOptions, type TransportContractOptions } from './contract-options.js'
import { createMessage } from './create-message.js'

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
}

/** What one run of the leader-kill scenario measured (printed by the test, for the notes). */
export interface ClusterFaultReport {
  readonly transport: string
  readonly killedNode: string
  readonly confirmed: number
  readonly consumed: number
  readonly duplicates: number
  readonly publishRetries: number
  /** From the kill to the first publish confirmed after it (a publish started after the kill). */
  readonly publishResumedMs: number
  /** From the kill to the first delivery of a message published after the kill. */
  readonly consumeResumedMs: number
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
  })
}

function registerLeaderKill(h: ContractHarness, hooks: ClusterHooks): void {
  it('consumes every confirmed message of 100 publishers when the leader node is killed and restarted', async () => {
    const [producer, consumer] = await h.pair()
    const topic = h.topic('cluster')
    const group = h.group()
    await producer.provision(topic, { groups: [group] })
    let killedAt: number | undefined
    let publishResumedAt: number | undefined
    let consumeResumedAt: number | undefined
    /** Messages whose publish started after the kill: the first of them consumed marks the resume. */
    const publishedAfterKill = new Set<string>()
    const c = h.collect(consumer, topic, {
      group,
      inFlight: 256,
      timeoutMs: 240_000,
      settle: (d) => {
        if (consumeResumedAt === undefined && publishedAfterKill.has(d.message.id))
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
        const afterKill = killedAt !== undefined
        if (afterKill) for (const m of batch) publishedAfterKill.add(m.id)
        try {
          await producer.publish(batch)
          for (const m of batch) confirmed.add(m.id)
          if (afterKill) publishResumedAt ??= Date.now()
          return
        } catch (error) {
          if (!isSwitchyardError(error) || !error.retryable || Date.now() > publishDeadline) throw error
          retries++
          lastRetryError = error
          await new Promise((resolve) => setTimeout(resolve, Math.min(1_000, 50 * 2 ** attempt)))
        }
      }
    }
    const publishers = Array.from({ length: 100 }, (_, p) =>
      Array.from({ length: 10 }, (_, b) =>
        Array.from({ length: 10 }, (_, i) =>
          createMessage(topic, { key: `p${p}`, payload: `${p}:${b}:${i}` }),
        ),
      ),
    )
    const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
    const run = (from: number, to: number, pauseMs: number): Promise<unknown> =>
      Promise.all(
        publishers.map(async (batches) => {
          for (const batch of batches.slice(from, to)) {
            if (pauseMs > 0) await pause(pauseMs)
            await publishWithRetry(batch)
          }
        }),
      )
    // 40 % before the kill; 30 % paced so that publishing spans the leaderless moment; the rest
    // after the killed node is back. The consumer consumes throughout.
    await run(0, 4, 0)
    const killed = await hooks.killLeader(topic, group)
    killedAt = Date.now()
    await run(4, 7, 100)
    await h.waitFor(() => consumeResumedAt !== undefined, {
      timeoutMs: 120_000,
      description: () =>
        `a message published after the kill to be consumed (${retries} publish retries, last: ${lastRetryError?.message})`,
    })
    await hooks.restartNode(killed)
    await run(7, 10, 0)
    await c.waitForIds(10_000, 240_000)

    expect(confirmed.size).toBe(10_000)
    for (const id of confirmed) expect(c.ids.has(id)).toBe(true)
    const report: ClusterFaultReport = {
      transport: h.name,
      killedNode: killed,
      confirmed: confirmed.size,
      consumed: c.ids.size,
      duplicates: c.deliveries.length - c.ids.size,
      publishRetries: retries,
      publishResumedMs: (publishResumedAt as number) - killedAt,
      consumeResumedMs: (consumeResumedAt as number) - killedAt,
    }
    console.info(`[cluster fault] ${JSON.stringify(report)}`)
    expect(publishResumedAt).toBeDefined()
  }, 420_000)
}
