/**
 * The Apache Kafka test broker: single-node KRaft (broker and controller in one JVM) on 127.0.0.1,
 * run from Apache's own jars that Maven copies from Maven Central (`test/brokers/kafka/pom.xml`).
 * Formats its storage once, keeps data across restarts, and checks readiness with kafkajs (metadata
 * answers, a topic can be created, the group coordinator is loaded). Not a Kafka client for tests.
 */
import { randomBytes } from 'node:crypto'
import { appendFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Kafka, logLevel } from 'kafkajs'
import { type BrokerDriver, BrokerError, type BrokerStatus, type UpResult } from './broker.js'
import { brokersSettings, kafkaConnection } from './env.js'
import {
  commandExists,
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

const pomFile = fileURLToPath(new URL('../kafka/pom.xml', import.meta.url))

const paths = () => {
  const home = join(brokersSettings.dir, 'kafka')
  return {
    home,
    lib: join(home, `lib-${brokersSettings.kafkaVersion}`),
    data: join(home, 'data'),
    config: join(home, 'server.properties'),
    log4j: join(home, 'log4j2.properties'),
    log: join(home, 'kafka.log'),
    pid: join(home, 'kafka.pid'),
  }
}

const fail = (message: string): BrokerError => new BrokerError('kafka', message, paths().log)

/** The broker settings of a single-node test Kafka: everything replicated once, topics made by the adapters. */
export const singleNodeDefaults = `num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
share.coordinator.state.topic.num.partitions=1
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
auto.create.topics.enable=false
delete.topic.enable=true
`

const serverProperties = (dataDir: string): string => {
  const { host, port, controllerPort } = kafkaConnection
  return `# Written by switchyard-brokers on every start; edit test/brokers/src/kafka.ts instead.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@${host}:${controllerPort}
listeners=PLAINTEXT://${host}:${port},CONTROLLER://${host}:${controllerPort}
advertised.listeners=PLAINTEXT://${host}:${port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=${dataDir}
${singleNodeDefaults}num.network.threads=2
num.io.threads=4
background.threads=4
num.recovery.threads.per.data.dir=2
controlled.shutdown.enable=true
`
}

export const log4jProperties = `# Written by switchyard-brokers: Kafka logs to stdout, which goes to kafka.log.
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.out.ref = STDOUT
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = warn
logger.state.name = state.change.logger
logger.state.level = warn
logger.request.name = kafka.request.logger
logger.request.level = warn
# Per-partition chatter (thousands of lines when many test topics exist) slows every (re)start.
logger.storage.name = org.apache.kafka.storage.internals.log
logger.storage.level = warn
logger.partition.name = kafka.cluster.Partition
logger.partition.level = warn
logger.replication.name = org.apache.kafka.controller.ReplicationControlManager
logger.replication.level = warn
logger.partitionchange.name = org.apache.kafka.controller.PartitionChangeBuilder
logger.partitionchange.level = warn
logger.groups.name = org.apache.kafka.coordinator.group.GroupMetadataManager
logger.groups.level = warn
`

/**
 * A Kafka cluster id: 16 random bytes, base64url without padding (what StorageTool random-uuid prints),
 * never starting with `-`. StorageTool's argument parser reads `-t -Xyz…` as a missing value and exits 1
 * (1 id in 64; it failed a CI run's kafka-secure start on 2026-12-05); Kafka's own random ids skip
 * those too.
 */
export const clusterId = (): string => {
  for (;;) {
    const id = randomBytes(16).toString('base64url')
    if (!id.startsWith('-')) return id
  }
}

export const isKafkaCommand = (command: string): boolean => command.includes('kafka.Kafka')

export const versionFromCommand = (command: string): string | undefined =>
  /kafka_2\.13-([\w.-]+?)\.jar/.exec(command)?.[1] ?? /lib-([\w.-]+?)\//.exec(command)?.[1]

/**
 * Asks the broker for metadata; with `full`, also creates and deletes a topic and looks up a group
 * coordinator, which is what the tests do first.
 */
const probe = async (full: boolean): Promise<true> => {
  const kafka = new Kafka({
    clientId: 'switchyard-brokers',
    brokers: kafkaConnection.brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1000,
    requestTimeout: 5000,
    retry: { retries: 0 },
  })
  const admin = kafka.admin({ retry: { retries: 0 } })
  const check = async (): Promise<true> => {
    await admin.connect()
    await admin.describeCluster()
    if (full) {
      const topic = `switchyard-ready-${randomBytes(4).toString('hex')}`
      await admin.createTopics({ topics: [{ topic }], waitForLeaders: true, timeout: 5000 })
      await admin.deleteTopics({ topics: [topic], timeout: 5000 })
      await admin.describeGroups(['switchyard-ready'])
    }
    return true
  }
  try {
    // kafkajs may wait on a silent peer for long; a probe gets a hard limit.
    return await within(full ? 20_000 : 6000, `a Kafka probe of ${kafkaConnection.brokers[0]}`, check())
  } finally {
    await admin.disconnect().catch(() => {})
  }
}

export const ensureJava = async (): Promise<void> => {
  const java = brokersSettings.javaCommand
  if (!commandExists(java)) {
    throw fail(
      `Java is missing (\`${java}\` not found). Kafka ${brokersSettings.kafkaVersion} needs Java 17 or newer: ` +
        'apt-get install openjdk-17-jre-headless, or set SWITCHYARD_JAVA to a java binary.',
    )
  }
  const { stderr, stdout } = await run(java, ['-version'], { timeoutMs: 20_000 })
  const major = Number(/version "(\d+)/.exec(stderr + stdout)?.[1] ?? '0')
  if (major < 17)
    throw fail(`\`${java}\` is Java ${major || 'of unknown version'}; Kafka 4 needs Java 17 or newer.`)
}

/** Copies Kafka's jars from the local Maven repository (downloading them once) into the state folder. */
export const ensureJars = async (): Promise<void> => {
  const { lib } = paths()
  if (existsSync(join(lib, '.complete'))) return
  const mvn = brokersSettings.mavenCommand
  if (!commandExists(mvn)) {
    throw fail(`Maven is missing (\`${mvn}\` not found); it fetches Kafka's jars: apt-get install maven.`)
  }
  rmSync(lib, { recursive: true, force: true })
  mkdirSync(lib, { recursive: true })
  const args = ['-q', '-B', '-f', pomFile, 'dependency:copy-dependencies']
  args.push(`-Dkafka.version=${brokersSettings.kafkaVersion}`, `-DoutputDirectory=${lib}`)
  const result = await run(mvn, args, { timeoutMs: brokersSettings.installTimeoutMs })
  if (result.code !== 0) {
    throw fail(
      `Maven could not fetch Kafka ${brokersSettings.kafkaVersion} (exit ${result.code}):\n` +
        `${(result.stdout + result.stderr).trim().split('\n').slice(-15).join('\n')}`,
    )
  }
  if (!existsSync(join(lib, `kafka_2.13-${brokersSettings.kafkaVersion}.jar`))) {
    throw fail(`Maven finished but ${lib} has no kafka_2.13-${brokersSettings.kafkaVersion}.jar`)
  }
  writeFileSync(join(lib, '.complete'), `${new Date().toISOString()}\n`)
}

export const javaEnv = (): NodeJS.ProcessEnv => {
  const env = { ...process.env }
  // The JVM would read these and override our flags.
  delete env.JAVA_TOOL_OPTIONS
  delete env._JAVA_OPTIONS
  return env
}

/** Formats the KRaft storage unless it already holds a cluster (data is kept across restarts). */
const ensureStorage = async (): Promise<void> => {
  const p = paths()
  if (existsSync(join(p.data, 'meta.properties'))) return
  mkdirSync(p.data, { recursive: true })
  const args = [
    '-Xmx256m',
    `-Dlog4j2.configurationFile=${p.log4j}`,
    '-Dlog4j2.level=warn',
    '-cp',
    `${p.lib}/*`,
  ]
  args.push('kafka.tools.StorageTool', 'format', '-t', clusterId(), '-c', p.config, '--ignore-formatted')
  const result = await run(brokersSettings.javaCommand, args, { timeoutMs: 120_000, env: javaEnv() })
  appendFileSync(p.log, `${result.stdout}${result.stderr}`)
  if (result.code !== 0) throw fail(`kafka.tools.StorageTool format failed (exit ${result.code})`)
}

/** The pid serving Kafka's port, if it is a Kafka (ours or not). */
const runningPid = (): number | undefined => {
  const listener = listenerOn(kafkaConnection.port)
  if (listener?.pid !== undefined && isKafkaCommand(listener.command)) return listener.pid
  return readPid(paths().pid)
}

const start = async (): Promise<number> => {
  const p = paths()
  for (const port of [kafkaConnection.port, kafkaConnection.controllerPort]) {
    const listener = listenerOn(port)
    if (listener) {
      throw fail(
        `port ${port} is taken by ${describeListener(listener)}, which does not answer as Kafka. ` +
          'Stop it, or move Kafka with SWITCHYARD_KAFKA_PORT / SWITCHYARD_KAFKA_CONTROLLER_PORT.',
      )
    }
  }
  await ensureJava()
  await ensureJars()
  mkdirSync(p.home, { recursive: true })
  writeFileSync(p.config, serverProperties(p.data))
  writeFileSync(p.log4j, log4jProperties)
  await ensureStorage()
  const heap = brokersSettings.kafkaHeap
  const jvm = ['-Xms128m', `-Xmx${heap}`]
  jvm.push('-XX:+UseSerialGC', '-XX:CICompilerCount=2', '-XX:+ExitOnOutOfMemoryError')
  jvm.push(
    '-Djava.awt.headless=true',
    '-Djava.net.preferIPv4Stack=true',
    `-Dlog4j2.configurationFile=${p.log4j}`,
    // Kafka logs its own shutdown; Log4j's hook would stop logging before Kafka finishes.
    '-Dlog4j2.shutdownHookEnabled=false',
  )
  appendFileSync(
    p.log,
    `\n=== switchyard-brokers: starting Kafka ${brokersSettings.kafkaVersion} at ${new Date().toISOString()}\n`,
  )
  const pid = spawnDetached(
    brokersSettings.javaCommand,
    [...jvm, '-cp', `${p.lib}/*`, 'kafka.Kafka', p.config],
    {
      logFile: p.log,
      cwd: p.home,
      env: javaEnv(),
    },
  )
  writeFileSync(p.pid, `${pid}\n`)
  return pid
}

const waitReady = async (pid: number | undefined): Promise<void> => {
  try {
    await waitFor(
      `Kafka on ${kafkaConnection.brokers[0]} to create a topic`,
      brokersSettings.readyTimeoutMs,
      () => {
        if (pid !== undefined && !isAlive(pid)) {
          throw new FatalWait(new Error(`the Kafka process (pid ${pid}) exited:\n${tail(paths().log)}`))
        }
        return probe(true)
      },
    )
  } catch (error) {
    throw fail(`not ready: ${(error as Error).message}`)
  }
}

const version = (pid: number | undefined): string | undefined =>
  pid === undefined ? undefined : versionFromCommand(commandLine(pid))

/** The Kafka broker of the test environment. */
export const kafkaBroker: BrokerDriver = {
  name: 'kafka',
  logFile: () => paths().log,

  async up(): Promise<UpResult> {
    const began = Date.now()
    let pid = runningPid()
    const listening = listenerOn(kafkaConnection.port) !== undefined
    if (listening && (await probe(false).catch(() => false))) {
      return { broker: 'kafka', action: 'reused', pid, version: version(pid), ms: Date.now() - began }
    }
    if (pid !== undefined && isKafkaCommand(commandLine(pid))) {
      // Our Kafka is alive but not answering yet (still starting): wait for it rather than start another.
      await waitReady(pid)
      return { broker: 'kafka', action: 'reused', pid, version: version(pid), ms: Date.now() - began }
    }
    pid = await start()
    await waitReady(pid)
    return {
      broker: 'kafka',
      action: 'started',
      pid,
      version: brokersSettings.kafkaVersion,
      ms: Date.now() - began,
    }
  },

  async stop(): Promise<void> {
    const pid = runningPid()
    if (pid === undefined) return
    if (!isKafkaCommand(commandLine(pid))) throw fail(`pid ${pid} is not a Kafka broker; not stopping it`)
    // SIGTERM runs Kafka's controlled shutdown; 30 s before SIGKILL.
    await stopProcess(pid, 30_000)
    rmSync(paths().pid, { force: true })
  },

  async status(): Promise<BrokerStatus> {
    const p = paths()
    const pid = runningPid()
    const managed = pid !== undefined && pid === readPid(p.pid)
    return {
      broker: 'kafka',
      running: pid !== undefined,
      managed,
      pid,
      version: version(pid),
      ports: { client: kafkaConnection.port, controller: kafkaConnection.controllerPort },
      dataDir: p.data,
      logFile: p.log,
    }
  },
}

/** Where Maven put Kafka's jars (shared with the three-node cluster in `kafka-cluster.ts`). */
export const kafkaLibDir = (): string => paths().lib
