/**
 * "kafka-secure": a separate single-node Apache Kafka (KRaft, same jars as the shared one) for the
 * TLS/SASL tests. Clients connect with `SASL_SSL` — TLS with the test PKI's server certificate
 * (`ensurePki()`, PEM key store and trust store) and SCRAM-SHA-512 — or, on a second port, in
 * plaintext (for the "TLS client against a plaintext port" case). The SCRAM user is written into the
 * metadata log when the storage is formatted (`StorageTool format --add-scram`), so no extra tool is
 * needed. Own ports, data folder, log and pid file under `<state>/kafka-secure`; started on demand by
 * the tests that need it (`up kafka-secure`), stopped by them afterwards, never part of `up all`.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Kafka, logLevel } from 'kafkajs'
import { type BrokerDriver, BrokerError, type BrokerStatus, type UpResult } from './broker.js'
import { brokersSettings, kafkaSecureConnection } from './env.js'
import {
  clusterId,
  ensureJars,
  ensureJava,
  isKafkaCommand,
  javaEnv,
  kafkaLibDir,
  log4jProperties,
  singleNodeDefaults,
  versionFromCommand,
} from './kafka.js'
import { ensurePki } from './pki.js'
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

const { host } = kafkaSecureConnection

const paths = () => {
  const home = join(brokersSettings.dir, 'kafka-secure')
  return {
    home,
    data: join(home, 'data'),
    config: join(home, 'server.properties'),
    keystore: join(home, 'server-keystore.pem'),
    log4j: join(home, 'log4j2.properties'),
    log: join(home, 'kafka.log'),
    pid: join(home, 'kafka.pid'),
  }
}

const fail = (message: string): BrokerError => new BrokerError('kafka-secure', message, paths().log)

const serverProperties = async (): Promise<string> => {
  const { port, plaintextPort, controllerPort } = kafkaSecureConnection
  const pki = await ensurePki()
  const p = paths()
  return `# Written by switchyard-brokers on every start; edit test/brokers/src/kafka-secure.ts instead.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@${host}:${controllerPort}
listeners=SASL_SSL://${host}:${port},PLAINTEXT://${host}:${plaintextPort},CONTROLLER://${host}:${controllerPort}
advertised.listeners=SASL_SSL://${host}:${port},PLAINTEXT://${host}:${plaintextPort}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PEM
ssl.keystore.location=${p.keystore}
ssl.truststore.type=PEM
ssl.truststore.location=${pki.caCert}
ssl.client.auth=none
log.dirs=${p.data}
${singleNodeDefaults}num.network.threads=2
num.io.threads=2
background.threads=2
num.recovery.threads.per.data.dir=1
controlled.shutdown.enable=true
`
}

const formatStorage = async (): Promise<void> => {
  const p = paths()
  if (existsSync(join(p.data, 'meta.properties'))) return
  mkdirSync(p.data, { recursive: true })
  const { username, password } = kafkaSecureConnection
  const args = ['-Xmx256m', `-Dlog4j2.configurationFile=${p.log4j}`, '-cp', `${kafkaLibDir()}/*`]
  args.push('kafka.tools.StorageTool', 'format', '-t', clusterId(), '-c', p.config, '--ignore-formatted')
  args.push('--add-scram', `SCRAM-SHA-512=[name=${username},password=${password}]`)
  const result = await run(brokersSettings.javaCommand, args, { timeoutMs: 120_000, env: javaEnv() })
  // The command line holds the password: log only the outcome.
  appendFileSync(p.log, `${result.stdout}${result.stderr}`.replaceAll(password, '***'))
  if (result.code !== 0) throw fail(`kafka.tools.StorageTool format failed (exit ${result.code})`)
}

const brokerPid = (): number | undefined => {
  const listener = listenerOn(kafkaSecureConnection.port)
  if (listener?.pid !== undefined && isKafkaCommand(listener.command)) return listener.pid
  const pid = readPid(paths().pid)
  return pid !== undefined && isKafkaCommand(commandLine(pid)) ? pid : undefined
}

/** Metadata over SASL_SSL as the SCRAM user; with `full`, a topic created and deleted and a group lookup. */
const probe = async (full: boolean): Promise<true> => {
  const pki = await ensurePki()
  const kafka = new Kafka({
    clientId: 'switchyard-brokers',
    brokers: kafkaSecureConnection.brokers,
    ssl: { ca: readFileSync(pki.caCert) },
    sasl: {
      mechanism: 'scram-sha-512',
      username: kafkaSecureConnection.username,
      password: kafkaSecureConnection.password,
    },
    logLevel: logLevel.NOTHING,
    connectionTimeout: 2000,
    requestTimeout: 5000,
    retry: { retries: 0 },
  })
  const admin = kafka.admin({ retry: { retries: 0 } })
  const check = async (): Promise<true> => {
    await admin.connect()
    await admin.describeCluster()
    if (full) {
      const topic = `switchyard-ready-${Date.now().toString(36)}`
      await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true, timeout: 5000 })
      await admin.deleteTopics({ topics: [topic], timeout: 5000 })
      await admin.describeGroups(['switchyard-ready'])
    }
    return true
  }
  try {
    return await within(full ? 20_000 : 6000, 'a kafka-secure probe', check())
  } finally {
    await admin.disconnect().catch(() => {})
  }
}

const start = async (): Promise<number> => {
  const p = paths()
  const { port, plaintextPort, controllerPort } = kafkaSecureConnection
  for (const taken of [port, plaintextPort, controllerPort]) {
    const listener = listenerOn(taken)
    if (listener) {
      throw fail(
        `port ${taken} is taken by ${describeListener(listener)}. Stop it, or move kafka-secure with ` +
          'SWITCHYARD_KAFKA_SECURE_PORT / _PLAINTEXT_PORT / _CONTROLLER_PORT.',
      )
    }
  }
  await ensureJava()
  await ensureJars()
  const pki = await ensurePki()
  mkdirSync(p.home, { recursive: true })
  writeFileSync(p.log4j, log4jProperties)
  // Kafka's PEM key store is one file: the (unencrypted PKCS#8) key, then the certificate.
  writeFileSync(
    p.keystore,
    `${readFileSync(pki.serverKey, 'utf8').trim()}\n${readFileSync(pki.serverCert, 'utf8').trim()}\n`,
    { mode: 0o600 },
  )
  writeFileSync(p.config, await serverProperties())
  await formatStorage()
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
    `-Dlog4j2.configurationFile=${p.log4j}`,
    '-Dlog4j2.shutdownHookEnabled=false',
  )
  appendFileSync(p.log, `\n=== switchyard-brokers: starting kafka-secure at ${new Date().toISOString()}\n`)
  const pid = spawnDetached(
    brokersSettings.javaCommand,
    [...jvm, '-cp', `${kafkaLibDir()}/*`, 'kafka.Kafka', p.config],
    {
      logFile: p.log,
      cwd: p.home,
      env: javaEnv(),
    },
  )
  writeFileSync(p.pid, `${pid}\n`)
  return pid
}

/** The single-node SASL_SSL Kafka of the TLS tests. */
export const kafkaSecureBroker: BrokerDriver = {
  name: 'kafka-secure',
  logFile: () => paths().log,

  async up(): Promise<UpResult> {
    const began = Date.now()
    const running = brokerPid()
    if (running !== undefined && (await probe(false).catch(() => false))) {
      return {
        broker: 'kafka-secure',
        action: 'reused',
        pid: running,
        version: versionFromCommand(commandLine(running)),
        ms: Date.now() - began,
      }
    }
    const pid = running ?? (await start())
    try {
      await waitFor('kafka-secure to answer over SASL_SSL', brokersSettings.readyTimeoutMs, () => {
        if (!isAlive(pid))
          throw new FatalWait(new Error(`kafka-secure (pid ${pid}) exited:\n${tail(paths().log)}`))
        return probe(true)
      })
    } catch (error) {
      throw fail(`not ready: ${(error as Error).message}`)
    }
    return {
      broker: 'kafka-secure',
      action: 'started',
      pid,
      version: brokersSettings.kafkaVersion,
      ms: Date.now() - began,
    }
  },

  async stop(): Promise<void> {
    const pid = brokerPid()
    if (pid !== undefined) await stopProcess(pid, 20_000)
    rmSync(paths().pid, { force: true })
  },

  async status(): Promise<BrokerStatus> {
    const pid = brokerPid()
    const { port, plaintextPort, controllerPort } = kafkaSecureConnection
    return {
      broker: 'kafka-secure',
      running: pid !== undefined,
      managed: pid !== undefined && pid === readPid(paths().pid),
      pid,
      version: pid === undefined ? undefined : versionFromCommand(commandLine(pid)),
      ports: { saslSsl: port, plaintext: plaintextPort, controller: controllerPort },
      dataDir: paths().data,
      logFile: paths().log,
    }
  },
}
