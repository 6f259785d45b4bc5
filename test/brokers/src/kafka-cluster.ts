/**
 * A three-node Apache Kafka cluster on 127.0.0.1 for the fault-tolerance tests: three combined
 * broker+controller JVMs (a three-voter KRaft quorum) from the same jars as the single broker,
 * each with its own ports, data folder, log and pid file, one cluster id for all three.
 * Topics default to replication factor 3 with `min.insync.replicas=2` and no unclean leader
 * election, so a `kill -9` of any one node loses nothing that was acknowledged with `acks=-1`.
 *
 * Sized for a 2-core machine: 384 MiB heap and SerialGC per node (~330 MB RSS each), two network
 * and I/O threads. The brokers' session with the controller is 3 s (heartbeat 0.5 s) instead of
 * 9 s, so a killed node's partitions get new leaders in about 4-5 s rather than about 12 s.
 * Started on demand by the tests that need it (`up kafka-cluster`), stopped by them afterwards.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Kafka, logLevel } from 'kafkajs'
import { type BrokerDriver, BrokerError, type BrokerStatus, type UpResult } from './broker.js'
import { brokersSettings, kafkaClusterConnection } from './env.js'
import {
  clusterId,
  ensureJars,
  ensureJava,
  isKafkaCommand,
  javaEnv,
  kafkaLibDir,
  log4jProperties,
  versionFromCommand,
} from './kafka.js'
import { cutNode, healCut, inNodeCgroup, removeNodeCgroups } from './netcut.js'
import {
  commandLine,
  describeListener,
  FatalWait,
  isAlive,
  listenerOn,
  readPid,
  run,
  spawnDetached,
  stopProcess,
  tail,
  waitFor,
  within,
} from './proc.js'

const { host, nodeIds } = kafkaClusterConnection

const home = (): string => join(brokersSettings.dir, 'kafka-cluster')

const nodePaths = (id: number) => {
  const dir = join(home(), `node-${id}`)
  return {
    dir,
    data: join(dir, 'data'),
    config: join(dir, 'server.properties'),
    log: join(dir, 'kafka.log'),
    pid: join(dir, 'kafka.pid'),
  }
}

const log4jFile = (): string => join(home(), 'log4j2.properties')
const clusterIdFile = (): string => join(home(), 'cluster-id')

const fail = (message: string, id?: number): BrokerError =>
  new BrokerError('kafka-cluster', message, nodePaths(id ?? 1).log)

const voters = (): string =>
  nodeIds.map((id) => `${id}@${host}:${kafkaClusterConnection.controllerPort(id)}`).join(',')

const serverProperties = (id: number): string => {
  const port = kafkaClusterConnection.port(id)
  const controllerPort = kafkaClusterConnection.controllerPort(id)
  return `# Written by switchyard-brokers on every start; edit test/brokers/src/kafka-cluster.ts instead.
process.roles=broker,controller
node.id=${id}
controller.quorum.voters=${voters()}
listeners=PLAINTEXT://${host}:${port},CONTROLLER://${host}:${controllerPort}
advertised.listeners=PLAINTEXT://${host}:${port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=${nodePaths(id).data}
num.partitions=3
default.replication.factor=3
min.insync.replicas=2
unclean.leader.election.enable=false
offsets.topic.replication.factor=3
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
transaction.state.log.num.partitions=3
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
share.coordinator.state.topic.num.partitions=3
broker.session.timeout.ms=3000
broker.heartbeat.interval.ms=500
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
auto.create.topics.enable=false
delete.topic.enable=true
num.network.threads=2
num.io.threads=2
background.threads=2
num.recovery.threads.per.data.dir=1
controlled.shutdown.enable=true
`
}

/** The cluster id shared by the three nodes, made once and kept with the data. */
const sharedClusterId = (): string => {
  const file = clusterIdFile()
  if (existsSync(file)) return readFileSync(file, 'utf8').trim()
  const id = clusterId()
  mkdirSync(home(), { recursive: true })
  writeFileSync(file, `${id}\n`)
  return id
}

const formatStorage = async (id: number): Promise<void> => {
  const p = nodePaths(id)
  if (existsSync(join(p.data, 'meta.properties'))) return
  mkdirSync(p.data, { recursive: true })
  const args = ['-Xmx256m', `-Dlog4j2.configurationFile=${log4jFile()}`, '-cp', `${kafkaLibDir()}/*`]
  args.push(
    'kafka.tools.StorageTool',
    'format',
    '-t',
    sharedClusterId(),
    '-c',
    p.config,
    '--ignore-formatted',
  )
  const result = await run(brokersSettings.javaCommand, args, { timeoutMs: 120_000, env: javaEnv() })
  appendFileSync(p.log, `${result.stdout}${result.stderr}`)
  if (result.code !== 0)
    throw fail(`kafka.tools.StorageTool format of node ${id} failed (exit ${result.code})`, id)
}

/** The pid of node `id`, if a Kafka serves its port or its pid file names a live Kafka. */
const nodePid = (id: number): number | undefined => {
  const listener = listenerOn(kafkaClusterConnection.port(id))
  if (listener?.pid !== undefined && isKafkaCommand(listener.command)) return listener.pid
  const pid = readPid(nodePaths(id).pid)
  return pid !== undefined && isKafkaCommand(commandLine(pid)) ? pid : undefined
}

const startNode = async (id: number): Promise<number> => {
  const p = nodePaths(id)
  for (const port of [kafkaClusterConnection.port(id), kafkaClusterConnection.controllerPort(id)]) {
    const listener = listenerOn(port)
    if (listener) {
      throw fail(
        `port ${port} (node ${id}) is taken by ${describeListener(listener)}. Stop it, or move the cluster ` +
          'with SWITCHYARD_KAFKA_CLUSTER_PORT.',
        id,
      )
    }
  }
  mkdirSync(p.dir, { recursive: true })
  writeFileSync(p.config, serverProperties(id))
  await formatStorage(id)
  const jvm = [
    '-Xms64m',
    '-Xmx384m',
    '-XX:+UseSerialGC',
    '-XX:CICompilerCount=2',
    '-XX:+ExitOnOutOfMemoryError',
  ]
  jvm.push(
    '-Djava.awt.headless=true',
    '-Djava.net.preferIPv4Stack=true',
    `-Dlog4j2.configurationFile=${log4jFile()}`,
    '-Dlog4j2.shutdownHookEnabled=false',
  )
  appendFileSync(
    p.log,
    `\n=== switchyard-brokers: starting cluster node ${id} at ${new Date().toISOString()}\n`,
  )
  // In its own cgroup, so that a network cut can tell its sockets apart (netcut.ts).
  const node = inNodeCgroup('kafka-cluster', id, brokersSettings.javaCommand, [
    ...jvm,
    '-cp',
    `${kafkaLibDir()}/*`,
    'kafka.Kafka',
    p.config,
  ])
  const pid = spawnDetached(node.command, node.args, { logFile: p.log, cwd: p.dir, env: javaEnv() })
  writeFileSync(p.pid, `${pid}\n`)
  return pid
}

/**
 * The cluster answers when every node is in the metadata and a topic with replication factor 3
 * can be created (so the quorum, the brokers and the group coordinator are all up).
 */
const probe = async (full: boolean): Promise<true> => {
  const kafka = new Kafka({
    clientId: 'switchyard-brokers',
    brokers: kafkaClusterConnection.brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1000,
    requestTimeout: 5000,
    retry: { retries: 0 },
  })
  const admin = kafka.admin({ retry: { retries: 0 } })
  const check = async (): Promise<true> => {
    await admin.connect()
    const { brokers } = await admin.describeCluster()
    if (brokers.length < nodeIds.length)
      throw new Error(`${brokers.length} of ${nodeIds.length} nodes registered`)
    if (full) {
      const topic = `switchyard-ready-${Date.now().toString(36)}`
      await admin.createTopics({
        topics: [{ topic, numPartitions: 1, replicationFactor: 3 }],
        waitForLeaders: true,
        timeout: 5000,
      })
      await admin.deleteTopics({ topics: [topic], timeout: 5000 })
      await admin.describeGroups(['switchyard-ready'])
    }
    return true
  }
  try {
    return await within(full ? 20_000 : 6000, 'a Kafka cluster probe', check())
  } finally {
    await admin.disconnect().catch(() => {})
  }
}

const waitReady = async (pids: ReadonlyMap<number, number>): Promise<void> => {
  try {
    await waitFor('the three Kafka nodes to form a cluster', brokersSettings.readyTimeoutMs, () => {
      for (const [id, pid] of pids) {
        if (!isAlive(pid)) {
          throw new FatalWait(new Error(`node ${id} (pid ${pid}) exited:\n${tail(nodePaths(id).log)}`))
        }
      }
      return probe(true)
    })
  } catch (error) {
    throw fail(`not ready: ${(error as Error).message}`)
  }
}

const prepare = async (): Promise<void> => {
  await ensureJava()
  await ensureJars()
  mkdirSync(home(), { recursive: true })
  writeFileSync(log4jFile(), log4jProperties)
}

/** The three-node Kafka cluster of the fault-tolerance tests, plus per-node controls for them. */
export const kafkaClusterBroker: BrokerDriver & {
  /** `kill -9` of one node (a crash: no controlled shutdown). Resolves once the process is gone. */
  killNode(id: number): Promise<void>
  /** Starts one stopped node again (data kept) and resolves once the cluster answers with all three. */
  startNode(id: number): Promise<void>
  /** The pid of a node, if it runs. */
  nodePid(id: number): number | undefined
  /**
   * Cuts one node off the network (its broker and controller ports, and everything it sends); the
   * process keeps running. Only inside a private network namespace (see netcut.ts).
   */
  cutNode(id: number): Promise<void>
  /** Ends a cut made by {@link cutNode}; resolves once the cluster answers with all three nodes. */
  healCut(): Promise<void>
} = {
  name: 'kafka-cluster',
  logFile: () => nodePaths(1).log,

  async up(): Promise<UpResult> {
    const began = Date.now()
    const running = nodeIds.map((id) => nodePid(id))
    if (running.every((pid) => pid !== undefined) && (await probe(false).catch(() => false))) {
      const pid = running[0]
      return {
        broker: 'kafka-cluster',
        action: 'reused',
        pid,
        version: versionFromCommand(commandLine(pid as number)),
        ms: Date.now() - began,
      }
    }
    await prepare()
    const pids = new Map<number, number>()
    for (const id of nodeIds) pids.set(id, nodePid(id) ?? (await startNode(id)))
    await waitReady(pids)
    return {
      broker: 'kafka-cluster',
      action: 'started',
      pid: pids.get(1),
      version: brokersSettings.kafkaVersion,
      ms: Date.now() - began,
    }
  },

  async stop(): Promise<void> {
    await healCut('kafka-cluster')
    // All at once: stopped one by one, the last nodes would wait on a quorum that is leaving.
    await Promise.all(
      nodeIds.map(async (id) => {
        const pid = nodePid(id)
        if (pid !== undefined) await stopProcess(pid, 20_000)
        rmSync(nodePaths(id).pid, { force: true })
      }),
    )
    removeNodeCgroups('kafka-cluster', nodeIds)
  },

  async status(): Promise<BrokerStatus> {
    const pids = nodeIds.map((id) => nodePid(id))
    const ports: Record<string, number> = {}
    for (const id of nodeIds) {
      ports[`node${id}`] = kafkaClusterConnection.port(id)
      ports[`node${id}-controller`] = kafkaClusterConnection.controllerPort(id)
    }
    const first = pids.find((pid) => pid !== undefined)
    return {
      broker: 'kafka-cluster',
      running: pids.every((pid) => pid !== undefined),
      managed: pids.some((pid, i) => pid !== undefined && pid === readPid(nodePaths(i + 1).pid)),
      pid: first,
      version: first === undefined ? undefined : versionFromCommand(commandLine(first)),
      ports,
      dataDir: home(),
      logFile: nodePaths(1).log,
    }
  },

  async killNode(id: number): Promise<void> {
    const pid = nodePid(id)
    if (pid === undefined) return
    process.kill(pid, 'SIGKILL')
    await waitFor(`node ${id} (pid ${pid}) to exit`, 10_000, () => {
      if (isAlive(pid)) throw new Error('still running')
      return true
    })
    rmSync(nodePaths(id).pid, { force: true })
  },

  async startNode(id: number): Promise<void> {
    if (nodePid(id) !== undefined) return
    await prepare()
    const pid = await startNode(id)
    const pids = new Map<number, number>([[id, pid]])
    await waitReady(pids)
  },

  nodePid,

  cutNode: (id) =>
    cutNode('kafka-cluster', id, [
      kafkaClusterConnection.port(id),
      kafkaClusterConnection.controllerPort(id),
    ]),

  async healCut(): Promise<void> {
    await healCut('kafka-cluster')
    const pids = new Map<number, number>()
    for (const id of nodeIds) {
      const pid = nodePid(id)
      if (pid !== undefined) pids.set(id, pid)
    }
    await waitReady(pids)
  },
}
