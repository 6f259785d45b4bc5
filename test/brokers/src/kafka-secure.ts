/**
 * "kafka-secure": a separate single-node Apache Kafka (KRaft, same jars as the shared one) for the
 * TLS/SASL tests. Clients connect with `SASL_SSL` — TLS with the test PKI's server certificate
 * (`ensurePki()`, PEM key store and trust store) and SCRAM-SHA-512 — or with `SSL` and a client
 * certificate signed by the test CA (mutual TLS: `ssl.client.auth=required` on that listener only), or,
 * on a third port, in plaintext (for the "TLS client against a plaintext port" case). The SCRAM user is
 * written into the metadata log when the storage is formatted (`StorageTool format --add-scram`), so
 * no extra tool is needed. Own ports, data folder, log and pid file under `<state>/kafka-secure`;
 * started on demand by the tests that need it (`up kafka-secure`), stopped by them afterwards, never
 * part of `up all`.
 *
 * `server.properties` is written on every start. `up` reuses a running broker only when the file it was
 * started with is the one this version writes; otherwise (a broker started by an older version, with
 * other listeners) it restarts it. The data folder is kept either way: listeners are not part of it.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Kafka, type KafkaConfig, logLevel } from 'kafkajs'
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
  waitForLogin,
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
  const { port, plaintextPort, controllerPort, mtlsPort } = kafkaSecureConnection
  const pki = await ensurePki()
  const p = paths()
  return `# Written by switchyard-brokers on every start; edit test/brokers/src/kafka-secure.ts instead.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@${host}:${controllerPort}
listeners=SASL_SSL://${host}:${port},SSL://${host}:${mtlsPort},PLAINTEXT://${host}:${plaintextPort},CONTROLLER://${host}:${controllerPort}
advertised.listeners=SASL_SSL://${host}:${port},SSL://${host}:${mtlsPort},PLAINTEXT://${host}:${plaintextPort}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PEM
ssl.keystore.location=${p.keystore}
ssl.truststore.type=PEM
ssl.truststore.location=${pki.caCert}
ssl.client.auth=none
listener.name.ssl.ssl.client.auth=required
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

/** A kafkajs client of the manager's own checks: quiet, short timeouts, no retries. */
const client = (brokers: string[], auth: Pick<KafkaConfig, 'ssl' | 'sasl'>): Kafka =>
  new Kafka({
    clientId: 'switchyard-brokers',
    brokers,
    ...auth,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 2000,
    requestTimeout: 5000,
    retry: { retries: 0 },
  })

/**
 * Metadata over SASL_SSL as the SCRAM user and over mutual TLS with the test client certificate; with
 * `full`, a topic created and deleted and a group lookup.
 */
const probe = async (full: boolean): Promise<true> => {
  const pki = await ensurePki()
  const admin = client(kafkaSecureConnection.brokers, {
    ssl: { ca: readFileSync(pki.caCert) },
    sasl: {
      mechanism: 'scram-sha-512',
      username: kafkaSecureConnection.username,
      password: kafkaSecureConnection.password,
    },
  }).admin({ retry: { retries: 0 } })
  const mtls = client(kafkaSecureConnection.mtlsBrokers, {
    ssl: {
      ca: readFileSync(pki.caCert),
      cert: readFileSync(pki.clientCert),
      key: readFileSync(pki.clientKey),
    },
  }).admin({ retry: { retries: 0 } })
  const check = async (): Promise<true> => {
    await admin.connect()
    await admin.describeCluster()
    await mtls.connect()
    await mtls.describeCluster()
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
    await mtls.disconnect().catch(() => {})
  }
}

/** True when the broker's `server.properties` is the one this version writes (same listeners and settings). */
const configIsCurrent = async (): Promise<boolean> => {
  const path = paths().config
  return existsSync(path) && readFileSync(path, 'utf8') === (await serverProperties())
}

/**
 * Whether this process has had kafka-secure up already, started or reused (see `start`): a restart
 * (down, then up) must keep the data of a broker this process used, whoever started it.
 */
let usedInThisProcess = false

const start = async (): Promise<number> => {
  const p = paths()
  const { port, plaintextPort, controllerPort, mtlsPort } = kafkaSecureConnection
  for (const taken of [port, plaintextPort, controllerPort, mtlsPort]) {
    const listener = listenerOn(taken)
    if (listener) {
      throw fail(
        `port ${taken} is taken by ${describeListener(listener)}. Stop it, or move kafka-secure with ` +
          'SWITCHYARD_KAFKA_SECURE_PORT / _PLAINTEXT_PORT / _CONTROLLER_PORT / _MTLS_PORT.',
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
  // Fresh metadata unless this process has used the broker; a restart in the same process keeps it
  // (the restart scenarios need their messages; wiping it there once lost a test's topic). A metadata log grown over many runs made Kafka 4.4.0
  // refuse the test user after every restart (2026-12-05), until its credential was written again.
  if (!usedInThisProcess) rmSync(p.data, { recursive: true, force: true })
  usedInThisProcess = true
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
    let running = brokerPid()
    if (running !== undefined && !(await configIsCurrent())) {
      // Started with another server.properties (an older version's listeners): restart it with this one.
      appendFileSync(
        paths().log,
        '\n=== switchyard-brokers: server.properties changed, restarting kafka-secure\n',
      )
      await stopProcess(running, 20_000)
      running = undefined
    }
    if (running !== undefined && (await probe(false).catch(() => false))) {
      usedInThisProcess = true
      return {
        broker: 'kafka-secure',
        action: 'reused',
        pid: running,
        version: versionFromCommand(commandLine(running)),
        ms: Date.now() - began,
      }
    }
    const pid = running ?? (await start())
    let rewritten = false
    try {
      await waitFor('kafka-secure to answer over SASL_SSL', brokersSettings.readyTimeoutMs, async () => {
        if (!isAlive(pid))
          throw new FatalWait(new Error(`kafka-secure (pid ${pid}) exited:\n${tail(paths().log)}`))
        try {
          return await probe(true)
        } catch (error) {
          if (rewritten || !/authentication failed/i.test(String(error))) throw error
          // The test user's credential, written when the storage was formatted, was refused after a
          // restart of a broker whose metadata had seen per-run users come and go (2026-12-05, Kafka
          // 4.4.0, twice in a row): write it again through the plaintext listener, once.
          rewritten = true
          appendFileSync(
            paths().log,
            '\n=== switchyard-brokers: test user refused, writing its credential again\n',
          )
          await setKafkaSecureScramUser(kafkaSecureConnection.username, kafkaSecureConnection.password)
          return await probe(true)
        }
      })
    } catch (error) {
      throw fail(`not ready: ${(error as Error).message}`)
    }
    usedInThisProcess = true
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
    const { port, plaintextPort, controllerPort, mtlsPort } = kafkaSecureConnection
    return {
      broker: 'kafka-secure',
      running: pid !== undefined,
      managed: pid !== undefined && pid === readPid(paths().pid),
      pid,
      version: pid === undefined ? undefined : versionFromCommand(commandLine(pid)),
      ports: { saslSsl: port, mtls: mtlsPort, plaintext: plaintextPort, controller: controllerPort },
      dataDir: paths().data,
      logFile: paths().log,
    }
  },
}

/** `java/ScramUser.java` of this package (next to `src` and `dist`), run from source by `java`. */
const scramUserTool = fileURLToPath(new URL('../java/ScramUser.java', import.meta.url))

/**
 * Adds (`password` given) or deletes a SCRAM-SHA-512 user of the running kafka-secure broker, through
 * the Admin API on its plaintext listener (`java/ScramUser.java` with the broker's jars; the password
 * goes on standard input), then waits until the user can log in over SASL_SSL, or no longer can.
 * For `temporaryKafkaSecureUser`; never logs the password.
 */
export async function setKafkaSecureScramUser(username: string, password: string | undefined): Promise<void> {
  const { plaintextBrokers } = kafkaSecureConnection
  const action = password === undefined ? 'delete' : 'upsert'
  const result = await run(
    brokersSettings.javaCommand,
    ['-Xmx128m', '-cp', `${kafkaLibDir()}/*`, scramUserTool, plaintextBrokers[0] as string, username, action],
    { timeoutMs: 60_000, env: javaEnv(), ...(password === undefined ? {} : { input: password }) },
  )
  if (result.code !== 0) {
    const output = `${result.stdout}${result.stderr}`
    throw fail(
      `ScramUser ${action} ${username} failed (exit ${result.code}): ${password ? output.replaceAll(password, '***') : output}`,
    )
  }
  const pki = await ensurePki()
  await waitForLogin(`kafka-secure SCRAM user ${username}`, password !== undefined, 20_000, async () => {
    const admin = client(kafkaSecureConnection.brokers, {
      ssl: { ca: readFileSync(pki.caCert) },
      sasl: { mechanism: 'scram-sha-512', username, password: password ?? 'deleted' },
    }).admin({ retry: { retries: 0 } })
    try {
      await within(6000, 'a SCRAM login', admin.connect())
    } finally {
      await admin.disconnect().catch(() => {})
    }
  })
}
