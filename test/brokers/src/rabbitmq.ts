/**
 * The RabbitMQ test broker: reuses the server answering on 127.0.0.1:5672 (the machine's own, started
 * with `rabbitmq-server -detached`), or installs Debian's `rabbitmq-server` and starts it bound to
 * loopback. Makes sure the tests' vhost and (non-guest) user exist with full rights on that vhost,
 * and checks readiness with an AMQP handshake as that user. Data lives in RabbitMQ's own folders.
 */
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { connect } from 'amqplib'
import { type BrokerDriver, BrokerError, type BrokerStatus, type UpResult } from './broker.js'
import { brokersSettings, rabbitmqConnection } from './env.js'
import { aptInstall } from './install.js'
import {
  describeListener,
  FatalWait,
  findCommand,
  isAlive,
  listenerOn,
  run,
  spawnDetached,
  waitFor,
} from './proc.js'

const logBase = process.env.RABBITMQ_LOG_BASE ?? '/var/log/rabbitmq'
const dataBase = process.env.RABBITMQ_MNESIA_BASE ?? '/var/lib/rabbitmq/mnesia'
const startLog = (): string => join(brokersSettings.dir, 'rabbitmq', 'rabbitmq-server.log')

/** RabbitMQ's own node log (newest `*.log` in its log folder), else our start-up output. */
const logFile = (): string => {
  try {
    const logs = readdirSync(logBase)
      .filter((f) => f.endsWith('.log') && !f.includes('_upgrade'))
      .map((f) => join(logBase, f))
      .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)
    if (logs[0]) return logs[0]
  } catch {
    // no RabbitMQ log folder yet
  }
  return startLog()
}

const fail = (message: string): BrokerError => new BrokerError('rabbitmq', message, logFile())

const isRabbitCommand = (command: string): boolean => /beam|rabbit/i.test(command)

/** Opens and closes an AMQP connection as the test user; resolves with the server's version. */
const handshake = async (): Promise<string> => {
  const connection = await connect(rabbitmqConnection.url, { timeout: 3000 })
  try {
    return String(connection.connection.serverProperties.version ?? 'unknown')
  } finally {
    await connection.close().catch(() => {})
  }
}

const ctl = async (args: string[], timeoutMs = 60_000) => {
  const rabbitmqctl = findCommand('rabbitmqctl')
  if (rabbitmqctl === undefined) throw fail('rabbitmqctl is missing: apt-get install rabbitmq-server')
  return run(rabbitmqctl, args, { timeoutMs })
}

export const ctlOrFail = async (args: string[], timeoutMs?: number): Promise<string> => {
  const result = await ctl(args, timeoutMs)
  if (result.code !== 0) {
    throw fail(
      `\`rabbitmqctl ${args.join(' ')}\` failed (exit ${result.code}): ${(result.stderr || result.stdout).trim()}`,
    )
  }
  return result.stdout
}

/**
 * Waits for the node to boot. `rabbitmqctl await_startup` fails at once while the node has not yet
 * registered with epmd, so it is retried until the deadline — but if after 30 s no Erlang VM even
 * listens on the node's distribution port (AMQP port + 20000), the start failed and we say so.
 */
const awaitStartup = async (): Promise<void> => {
  const began = Date.now()
  const distPort = Number(process.env.RABBITMQ_DIST_PORT ?? rabbitmqConnection.port + 20_000)
  let last = ''
  await waitFor(
    'rabbitmqctl await_startup',
    brokersSettings.readyTimeoutMs,
    async () => {
      const result = await ctl(['--timeout', '15', 'await_startup'], 30_000)
      if (result.code === 0) return true
      last = (result.stderr || result.stdout).trim().split('\n').slice(0, 3).join(' ')
      if (Date.now() - began > 30_000 && listenerOn(distPort) === undefined) {
        throw new FatalWait(
          new Error(`the RabbitMQ node did not start (nothing on port ${distPort}): ${last}`),
        )
      }
      return undefined
    },
    500,
  ).catch((error: Error) => {
    throw fail(`${error.message}${last && !error.message.includes(last) ? `: ${last}` : ''}`)
  })
}

/** Creates the tests' vhost and user (idempotent) and grants the user everything on that vhost. */
export const ensureVhostAndUser = async (): Promise<void> => {
  const { vhost, username, password } = rabbitmqConnection
  await ctlOrFail(['add_vhost', vhost])
  const added = await ctl(['add_user', username, password])
  if (added.code !== 0) {
    if (!/already exists/i.test(added.stderr + added.stdout)) {
      throw fail(`\`rabbitmqctl add_user ${username}\` failed: ${(added.stderr || added.stdout).trim()}`)
    }
    await ctlOrFail(['change_password', username, password])
  }
  await ctlOrFail(['set_permissions', '-p', vhost, username, '.*', '.*', '.*'])
}

const waitForHandshake = (): Promise<string> =>
  waitFor(
    `an AMQP handshake as '${rabbitmqConnection.username}' on vhost '${rabbitmqConnection.vhost}'`,
    brokersSettings.readyTimeoutMs,
    handshake,
  ).catch((error: Error) => {
    throw fail(error.message)
  })

/** Environment that keeps a RabbitMQ we start on loopback only (node, Erlang distribution, epmd). */
const loopbackEnv = (): NodeJS.ProcessEnv => ({
  ...process.env,
  RABBITMQ_NODE_IP_ADDRESS: rabbitmqConnection.host,
  RABBITMQ_NODE_PORT: String(rabbitmqConnection.port),
  ERL_EPMD_ADDRESS: rabbitmqConnection.host,
  RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
})

const start = async (): Promise<void> => {
  let server = findCommand('rabbitmq-server')
  if (server === undefined) {
    await aptInstall('rabbitmq', 'rabbitmq-server', ['rabbitmq-server'])
    server = findCommand('rabbitmq-server')
  }
  if (server === undefined) throw fail('rabbitmq-server is still missing after apt-get install')
  mkdirSync(join(brokersSettings.dir, 'rabbitmq'), { recursive: true })
  const pid = spawnDetached(server, ['-detached'], { logFile: startLog(), cwd: '/', env: loopbackEnv() })
  // `-detached` hands over to the Erlang VM and exits; give it a bounded moment.
  await waitFor(
    'rabbitmq-server -detached to hand over',
    30_000,
    () => (isAlive(pid) ? undefined : true),
    100,
  )
  await awaitStartup()
}

/** The process serving the AMQP port (beam.smp), if any. */
const runningPid = (): number | undefined => listenerOn(rabbitmqConnection.port)?.pid

/** The RabbitMQ broker of the test environment. */
export const rabbitmqBroker: BrokerDriver = {
  name: 'rabbitmq',
  logFile,

  async up(): Promise<UpResult> {
    const began = Date.now()
    const listener = listenerOn(rabbitmqConnection.port)
    if (listener) {
      const existing = await handshake().catch(() => undefined)
      if (existing !== undefined) {
        return {
          broker: 'rabbitmq',
          action: 'reused',
          pid: listener.pid,
          version: existing,
          ms: Date.now() - began,
        }
      }
      if (!isRabbitCommand(listener.command)) {
        throw fail(
          `port ${rabbitmqConnection.port} is taken by ${describeListener(listener)}, which is not RabbitMQ. ` +
            'Stop it, or point SWITCHYARD_RABBITMQ_PORT at a RabbitMQ.',
        )
      }
      // A RabbitMQ that does not know our vhost or user yet (a fresh server): create them.
      await awaitStartup()
      await ensureVhostAndUser()
      const version = await waitForHandshake()
      return { broker: 'rabbitmq', action: 'reused', pid: runningPid(), version, ms: Date.now() - began }
    }
    await start()
    // After a restart the vhost and user are still there; on a fresh server they are created.
    if ((await handshake().catch(() => undefined)) === undefined) await ensureVhostAndUser()
    const version = await waitForHandshake()
    return { broker: 'rabbitmq', action: 'started', pid: runningPid(), version, ms: Date.now() - began }
  },

  async stop(): Promise<void> {
    const listener = listenerOn(rabbitmqConnection.port)
    if (listener === undefined) return
    if (!isRabbitCommand(listener.command))
      throw fail(`port ${rabbitmqConnection.port} is not served by RabbitMQ`)
    // `shutdown` is `stop` that waits for the Erlang VM to exit; durable queues and persistent messages stay.
    const result = await ctl(['shutdown'], 90_000)
    if (result.code !== 0)
      throw fail(`\`rabbitmqctl shutdown\` failed (exit ${result.code}): ${result.stderr.trim()}`)
    await waitFor(`port ${rabbitmqConnection.port} to close`, 30_000, () =>
      listenerOn(rabbitmqConnection.port) === undefined ? true : undefined,
    ).catch((error: Error) => {
      throw fail(error.message)
    })
  },

  async status(): Promise<BrokerStatus> {
    const pid = runningPid()
    const version = pid === undefined ? undefined : await handshake().catch(() => undefined)
    return {
      broker: 'rabbitmq',
      running: pid !== undefined,
      managed: false,
      pid,
      version,
      ports: { amqp: rabbitmqConnection.port },
      dataDir: existsSync(dataBase) ? dataBase : undefined,
      logFile: logFile(),
    }
  },
}
