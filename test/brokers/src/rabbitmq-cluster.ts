/**
 * A three-node RabbitMQ cluster on one host for the quorum-queue fault tests: Debian's RabbitMQ run
 * three times as `sy1@localhost` … `sy3@localhost`, each with its own AMQP and Erlang distribution
 * ports, data and log folders, a private epmd port and a private Erlang cookie (its own `HOME`), so
 * it neither sees nor disturbs the machine's RabbitMQ. Nodes 2 and 3 join node 1 once; the
 * membership is kept with the data across restarts. No plugins (an empty enabled-plugins file),
 * user `guest` from loopback only. About 120 MB RSS per node; up and clustered in about 15 s.
 * Started on demand by the tests that need it (`up rabbitmq-cluster`), stopped by them afterwards.
 */
import { randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { connect } from 'amqplib'
import { type BrokerDriver, BrokerError, type BrokerStatus, type UpResult } from './broker.js'
import { brokersSettings, rabbitmqClusterConnection } from './env.js'
import { aptInstall } from './install.js'
import { cutNode, healCut, inNodeCgroup, inPrivateNetns, removeNodeCgroups } from './netcut.js'
import {
  describeListener,
  findCommand,
  isAlive,
  listenerOn,
  readPid,
  run,
  spawnDetached,
  waitFor,
} from './proc.js'

const { nodeIds, host } = rabbitmqClusterConnection
const sbin = '/usr/lib/rabbitmq/bin'

const home = (): string => join(brokersSettings.dir, 'rabbitmq-cluster')
const nodePaths = (id: number) => {
  const dir = join(home(), `node-${id}`)
  return {
    dir,
    mnesia: join(dir, 'mnesia'),
    logs: join(dir, 'log'),
    pid: join(dir, 'beam.pid'),
    out: join(dir, 'server.log'),
  }
}

const fail = (message: string, id = 1): BrokerError =>
  new BrokerError('rabbitmq-cluster', message, nodePaths(id).out)

/** Environment of node `id` (and of `rabbitmqctl` talking to it): private cookie, epmd and files. */
const nodeEnv = (id: number): NodeJS.ProcessEnv => {
  const p = nodePaths(id)
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: home(),
    RABBITMQ_NODENAME: rabbitmqClusterConnection.nodeName(id),
    RABBITMQ_NODE_IP_ADDRESS: host,
    RABBITMQ_NODE_PORT: String(rabbitmqClusterConnection.port(id)),
    RABBITMQ_DIST_PORT: String(rabbitmqClusterConnection.distPort(id)),
    RABBITMQ_MNESIA_BASE: p.mnesia,
    RABBITMQ_LOG_BASE: p.logs,
    RABBITMQ_PID_FILE: p.pid,
    RABBITMQ_ENABLED_PLUGINS_FILE: join(home(), 'enabled_plugins'),
    // Debian's /etc/rabbitmq/rabbitmq-env.conf would force NODENAME=rabbit@localhost.
    RABBITMQ_CONF_ENV_FILE: join(home(), 'rabbitmq-env.conf'),
    RABBITMQ_CONFIG_FILE: join(home(), 'rabbitmq'),
    ERL_EPMD_PORT: String(rabbitmqClusterConnection.epmdPort),
    ERL_EPMD_ADDRESS: host,
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: `-kernel inet_dist_use_interface {127,0,0,1}${
      process.env.SWITCHYARD_RABBITMQ_CLUSTER_NET_TICKTIME
        ? ` -kernel net_ticktime ${Number(process.env.SWITCHYARD_RABBITMQ_CLUSTER_NET_TICKTIME)}`
        : ''
    }`,
  }
  return env
}

const ctl = (id: number, args: string[], timeoutMs = 60_000) =>
  run(join(sbin, 'rabbitmqctl'), ['-n', rabbitmqClusterConnection.nodeName(id), ...args], {
    timeoutMs,
    env: nodeEnv(id),
  })

const ctlOrFail = async (id: number, args: string[], timeoutMs?: number): Promise<string> => {
  const result = await ctl(id, args, timeoutMs)
  if (result.code !== 0) {
    throw fail(
      `\`rabbitmqctl -n sy${id}@localhost ${args.join(' ')}\` failed (exit ${result.code}): ${(result.stderr || result.stdout).trim()}`,
      id,
    )
  }
  return result.stdout
}

/** Opens and closes an AMQP connection to node `id` as guest; resolves with the server's version. */
const handshake = async (id: number): Promise<string> => {
  const connection = await connect(rabbitmqClusterConnection.url(id), { timeout: 3000 })
  try {
    return String(connection.connection.serverProperties.version ?? 'unknown')
  } finally {
    await connection.close().catch(() => {})
  }
}

const prepare = async (): Promise<void> => {
  if (!existsSync(join(sbin, 'rabbitmq-server')))
    await aptInstall('rabbitmq-cluster', 'rabbitmq-server', ['rabbitmq-server'])
  if (!existsSync(join(sbin, 'rabbitmq-server')))
    throw fail(`${sbin}/rabbitmq-server is missing after apt-get install rabbitmq-server`)
  mkdirSync(home(), { recursive: true })
  const cookie = join(home(), '.erlang.cookie')
  if (!existsSync(cookie)) {
    writeFileSync(cookie, randomBytes(20).toString('hex').toUpperCase())
    chmodSync(cookie, 0o400)
  }
  writeFileSync(join(home(), 'enabled_plugins'), '[].\n')
  writeFileSync(join(home(), 'rabbitmq-env.conf'), '')
  writeFileSync(join(home(), 'rabbitmq.conf'), 'loopback_users.guest = true\n')
  // The cluster's own epmd (idempotent: a second daemon on the same port exits at once).
  const epmd = findCommand('epmd')
  if (epmd === undefined) throw fail('epmd is missing (it comes with erlang-base)')
  if (listenerOn(rabbitmqClusterConnection.epmdPort) === undefined) {
    await run(epmd, ['-port', String(rabbitmqClusterConnection.epmdPort), '-address', host, '-daemon'], {
      timeoutMs: 10_000,
    })
  }
}

/** The beam pid of node `id`, if it runs. */
const nodePid = (id: number): number | undefined => {
  const pid = readPid(nodePaths(id).pid)
  if (pid !== undefined && isAlive(pid)) return pid
  return listenerOn(rabbitmqClusterConnection.port(id))?.pid
}

const startNode = (id: number): void => {
  const p = nodePaths(id)
  for (const port of [rabbitmqClusterConnection.port(id), rabbitmqClusterConnection.distPort(id)]) {
    const listener = listenerOn(port)
    if (listener) {
      throw fail(
        `port ${port} (node ${id}) is taken by ${describeListener(listener)}; move the cluster with SWITCHYARD_RABBITMQ_CLUSTER_PORT`,
        id,
      )
    }
  }
  mkdirSync(p.logs, { recursive: true })
  rmSync(p.pid, { force: true })
  // In its own cgroup, so that a network cut can tell its sockets apart (netcut.ts).
  const node = inNodeCgroup('rabbitmq-cluster', id, join(sbin, 'rabbitmq-server'), [])
  spawnDetached(node.command, node.args, { logFile: p.out, cwd: p.dir, env: nodeEnv(id) })
}

const waitNode = (id: number): Promise<string> =>
  waitFor(
    `node sy${id}@localhost to accept AMQP on ${rabbitmqClusterConnection.port(id)}`,
    brokersSettings.readyTimeoutMs,
    () => handshake(id),
    300,
  ).catch((error: Error) => {
    throw fail(error.message, id)
  })

/** The nodes node `id` sees running in its cluster. */
const runningNodes = async (id: number): Promise<string[]> => {
  const out = await ctlOrFail(id, ['cluster_status', '--formatter', 'json'], 90_000)
  const parsed = JSON.parse(out) as { running_nodes?: string[] }
  return parsed.running_nodes ?? []
}

/** Joins nodes 2 and 3 to node 1 where they are not members yet (membership is kept with the data). */
const ensureClustered = async (): Promise<void> => {
  const names = nodeIds.map((id) => rabbitmqClusterConnection.nodeName(id))
  // rabbitmqctl is an escript that takes seconds to start on a busy machine: ask node 1 once, and
  // again while it fails (a node that just opened its port may not answer the CLI yet).
  const ask = (): Promise<string[]> =>
    waitFor(
      'rabbitmqctl cluster_status on node 1',
      180_000,
      () => runningNodes(1).catch(() => undefined),
      1000,
    ).catch((error: Error) => {
      throw fail(error.message)
    })
  const running = await ask()
  if (names.every((name) => running.includes(name))) return
  for (const id of nodeIds) {
    if (id === 1 || running.includes(rabbitmqClusterConnection.nodeName(id))) continue
    await ctlOrFail(id, ['stop_app'], 120_000)
    await ctlOrFail(id, ['join_cluster', rabbitmqClusterConnection.nodeName(1)], 120_000)
    await ctlOrFail(id, ['start_app'], 120_000)
  }
  await waitFor('all three RabbitMQ nodes to run in one cluster', 120_000, async () => {
    const now: string[] = await runningNodes(1).catch(() => [])
    return names.every((name) => now.includes(name)) ? true : undefined
  }).catch((error: Error) => {
    throw fail(error.message)
  })
}

/** The three-node RabbitMQ cluster of the fault-tolerance tests, plus per-node controls for them. */
export const rabbitmqClusterBroker: BrokerDriver & {
  /** `kill -9` of one node's Erlang VM. Resolves once it is gone. */
  killNode(id: number): Promise<void>
  /** Starts one stopped node again (data and membership kept); resolves once it accepts AMQP. */
  startNode(id: number): Promise<void>
  /** The beam pid of a node, if it runs. */
  nodePid(id: number): number | undefined
  /**
   * The node id (1-3) leading the quorum queue named `queue`, asked of node `from` (default: the
   * first running node; name a node on the healthy side while another one is cut).
   */
  queueLeader(queue: string, from?: number): Promise<number>
  /**
   * Cuts one node off the network (its AMQP and distribution ports, and everything it sends); the
   * Erlang VM keeps running. Only inside a private network namespace (see netcut.ts).
   */
  cutNode(id: number): Promise<void>
  /** Ends a cut made by {@link cutNode}; resolves once all three nodes run in one cluster again. */
  healCut(): Promise<void>
} = {
  name: 'rabbitmq-cluster',
  logFile: () => nodePaths(1).out,

  async up(): Promise<UpResult> {
    const began = Date.now()
    await prepare()
    let action: UpResult['action'] = 'reused'
    // Started together: a restarted node waits for its peers' tables before it opens its port.
    for (const id of nodeIds) {
      if (nodePid(id) === undefined) {
        startNode(id)
        action = 'started'
      }
    }
    let version: string | undefined
    for (const id of nodeIds) version = await waitNode(id)
    await ensureClustered()
    return { broker: 'rabbitmq-cluster', action, pid: nodePid(1), version, ms: Date.now() - began }
  },

  async stop(): Promise<void> {
    await healCut('rabbitmq-cluster')
    await Promise.all(
      nodeIds.map(async (id) => {
        const pid = nodePid(id)
        if (pid === undefined) return
        await ctl(id, ['stop'], 60_000)
        await waitFor(`node ${id} to exit`, 30_000, () => (isAlive(pid) ? undefined : true)).catch(() => {
          process.kill(pid, 'SIGKILL')
        })
      }),
    )
    removeNodeCgroups('rabbitmq-cluster', nodeIds)
    // In a test's private network namespace the cluster's epmd would keep that namespace alive.
    const epmd = listenerOn(rabbitmqClusterConnection.epmdPort)?.pid
    if (inPrivateNetns() && epmd !== undefined) process.kill(epmd, 'SIGTERM')
  },

  async status(): Promise<BrokerStatus> {
    const pids = nodeIds.map((id) => nodePid(id))
    const ports: Record<string, number> = { epmd: rabbitmqClusterConnection.epmdPort }
    for (const id of nodeIds) ports[`sy${id}`] = rabbitmqClusterConnection.port(id)
    const up = pids[0] !== undefined ? await handshake(1).catch(() => undefined) : undefined
    return {
      broker: 'rabbitmq-cluster',
      running: pids.every((pid) => pid !== undefined),
      managed: true,
      pid: pids[0],
      version: up,
      ports,
      dataDir: home(),
      logFile: nodePaths(1).out,
    }
  },

  async killNode(id: number): Promise<void> {
    const pid = nodePid(id)
    if (pid === undefined) return
    process.kill(pid, 'SIGKILL')
    await waitFor(`node ${id} (pid ${pid}) to exit`, 10_000, () => (isAlive(pid) ? undefined : true))
  },

  async startNode(id: number): Promise<void> {
    if (nodePid(id) !== undefined) return
    startNode(id)
    await waitNode(id)
  },

  nodePid,

  cutNode: (id) =>
    cutNode('rabbitmq-cluster', id, [
      rabbitmqClusterConnection.port(id),
      rabbitmqClusterConnection.distPort(id),
    ]),

  async healCut(): Promise<void> {
    await healCut('rabbitmq-cluster')
    for (const id of nodeIds) await waitNode(id)
    await ensureClustered()
  },

  async queueLeader(queue: string, from?: number): Promise<number> {
    const asked = from ?? nodeIds.find((id) => nodePid(id) !== undefined)
    if (asked === undefined) throw fail('no node of the cluster runs')
    const out = await ctlOrFail(asked, ['list_queues', 'name', 'leader', '--formatter', 'json'])
    const rows = JSON.parse(out) as { name: string; leader?: string }[]
    const leader = rows.find((row) => row.name === queue)?.leader
    const id = nodeIds.find((n) => rabbitmqClusterConnection.nodeName(n) === leader)
    if (id === undefined)
      throw fail(`queue '${queue}' has no leader among ${rows.length} queues (leader: ${String(leader)})`)
    return id
  },
}
