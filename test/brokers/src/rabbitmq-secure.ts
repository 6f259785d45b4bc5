/**
 * "rabbitmq-secure": a separate RabbitMQ node (`sysec@localhost`, Debian's RabbitMQ run from
 * `/usr/lib/rabbitmq/bin` like the cluster nodes) for the TLS tests. AMQP over TLS on its TLS port
 * with the test PKI's server certificate, `verify_peer` and `fail_if_no_peer_cert` (a client must show
 * a certificate signed by the test CA), and plain AMQP on a second port. Its own epmd port, Erlang
 * cookie, data and log folders under `<state>/rabbitmq-secure`, so it neither sees nor disturbs the
 * shared RabbitMQ. The test user may use only its vhost, with the permission patterns of
 * `rabbitmqSecureConnection.permissions` (set on every `up`). Started on demand (`up rabbitmq-secure`).
 */
import { randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { connect } from 'amqplib'
import { type BrokerDriver, BrokerError, type BrokerStatus, type UpResult } from './broker.js'
import { brokersSettings, rabbitmqSecureConnection as conn } from './env.js'
import { aptInstall } from './install.js'
import { ensurePki } from './pki.js'
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

const sbin = '/usr/lib/rabbitmq/bin'

const paths = () => {
  const home = join(brokersSettings.dir, 'rabbitmq-secure')
  return {
    home,
    mnesia: join(home, 'mnesia'),
    logs: join(home, 'log'),
    pid: join(home, 'beam.pid'),
    out: join(home, 'server.log'),
  }
}

const fail = (message: string): BrokerError => new BrokerError('rabbitmq-secure', message, paths().out)

const nodeEnv = (): NodeJS.ProcessEnv => {
  const p = paths()
  return {
    ...process.env,
    HOME: p.home,
    RABBITMQ_NODENAME: conn.nodeName,
    RABBITMQ_DIST_PORT: String(conn.distPort),
    RABBITMQ_MNESIA_BASE: p.mnesia,
    RABBITMQ_LOG_BASE: p.logs,
    RABBITMQ_PID_FILE: p.pid,
    RABBITMQ_ENABLED_PLUGINS_FILE: join(p.home, 'enabled_plugins'),
    // Debian's /etc/rabbitmq/rabbitmq-env.conf would force NODENAME=rabbit@localhost.
    RABBITMQ_CONF_ENV_FILE: join(p.home, 'rabbitmq-env.conf'),
    RABBITMQ_CONFIG_FILE: join(p.home, 'rabbitmq'),
    ERL_EPMD_PORT: String(conn.epmdPort),
    ERL_EPMD_ADDRESS: conn.host,
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
  }
}

/** `rabbitmqctl` against this node; throws naming only the subcommand (arguments may hold a password). */
export const ctl = async (args: string[], timeoutMs = 90_000): Promise<string> => {
  const result = await run(join(sbin, 'rabbitmqctl'), ['-n', conn.nodeName, ...args], {
    timeoutMs,
    env: nodeEnv(),
  })
  if (result.code !== 0) {
    // `args` may hold the password (change_password): name only the subcommand.
    throw fail(
      `\`rabbitmqctl ${args[0]}\` failed (exit ${result.code}): ${(result.stderr || result.stdout).trim()}`,
    )
  }
  return result.stdout
}

const prepare = async (): Promise<void> => {
  if (!existsSync(join(sbin, 'rabbitmq-server')))
    await aptInstall('rabbitmq-secure', 'rabbitmq-server', ['rabbitmq-server'])
  const p = paths()
  const pki = await ensurePki()
  mkdirSync(p.logs, { recursive: true })
  const cookie = join(p.home, '.erlang.cookie')
  if (!existsSync(cookie)) {
    writeFileSync(cookie, randomBytes(20).toString('hex').toUpperCase())
    chmodSync(cookie, 0o400)
  }
  writeFileSync(join(p.home, 'enabled_plugins'), '[].\n')
  writeFileSync(join(p.home, 'rabbitmq-env.conf'), '')
  writeFileSync(
    join(p.home, 'rabbitmq.conf'),
    [
      `listeners.tcp.default = ${conn.host}:${conn.port}`,
      `listeners.ssl.default = ${conn.host}:${conn.tlsPort}`,
      `ssl_options.cacertfile = ${pki.caCert}`,
      `ssl_options.certfile = ${pki.serverCert}`,
      `ssl_options.keyfile = ${pki.serverKey}`,
      'ssl_options.verify = verify_peer',
      'ssl_options.fail_if_no_peer_cert = true',
      'loopback_users.guest = true',
      '',
    ].join('\n'),
  )
  const epmd = findCommand('epmd')
  if (epmd === undefined) throw fail('epmd is missing (it comes with erlang-base)')
  if (listenerOn(conn.epmdPort) === undefined) {
    await run(epmd, ['-port', String(conn.epmdPort), '-address', conn.host, '-daemon'], { timeoutMs: 10_000 })
  }
}

const nodePid = (): number | undefined => {
  const pid = readPid(paths().pid)
  if (pid !== undefined && isAlive(pid)) return pid
  return listenerOn(conn.tlsPort)?.pid ?? listenerOn(conn.port)?.pid
}

/** TLS options of the test user's client: the test CA and the client certificate it signed. */
export const rabbitmqSecureTls = async (): Promise<{ ca: Buffer; cert: Buffer; key: Buffer }> => {
  const pki = await ensurePki()
  return {
    ca: readFileSync(pki.caCert),
    cert: readFileSync(pki.clientCert),
    key: readFileSync(pki.clientKey),
  }
}

/** An AMQP handshake: as guest on the plain port, or as the test user over TLS. */
const handshake = async (tls: boolean): Promise<string> => {
  const connection = tls
    ? await connect(
        {
          protocol: 'amqps',
          hostname: conn.host,
          port: conn.tlsPort,
          username: conn.username,
          password: conn.password,
          vhost: conn.vhost,
        },
        { ...(await rabbitmqSecureTls()), timeout: 3000 },
      )
    : await connect(`amqp://guest:guest@${conn.host}:${conn.port}`, { timeout: 3000 })
  try {
    return String(connection.connection.serverProperties.version ?? 'unknown')
  } finally {
    await connection.close().catch(() => {})
  }
}

/** The vhost, the user and its limited permissions (idempotent; the password is set every time). */
const ensureUser = async (): Promise<void> => {
  await ctl(['add_vhost', conn.vhost]).catch(async (error: Error) => {
    if (!/already exists|vhost_already_exists/i.test(error.message)) throw error
  })
  const users = await ctl(['list_users', '--formatter', 'json'])
  const exists = (JSON.parse(users) as { user: string }[]).some((u) => u.user === conn.username)
  await ctl(
    exists ? ['change_password', conn.username, conn.password] : ['add_user', conn.username, conn.password],
  )
  const { configure, write, read } = conn.permissions
  await ctl(['set_permissions', '-p', conn.vhost, conn.username, configure, write, read])
}

/** The TLS RabbitMQ node of the TLS tests. */
export const rabbitmqSecureBroker: BrokerDriver = {
  name: 'rabbitmq-secure',
  logFile: () => paths().out,

  async up(): Promise<UpResult> {
    const began = Date.now()
    if (nodePid() !== undefined && (await handshake(true).catch(() => undefined)) !== undefined) {
      return {
        broker: 'rabbitmq-secure',
        action: 'reused',
        pid: nodePid(),
        version: await handshake(true),
        ms: Date.now() - began,
      }
    }
    await prepare()
    let action: UpResult['action'] = 'reused'
    if (nodePid() === undefined) {
      for (const port of [conn.port, conn.tlsPort, conn.distPort]) {
        const listener = listenerOn(port)
        if (listener) {
          throw fail(
            `port ${port} is taken by ${describeListener(listener)}; move rabbitmq-secure with SWITCHYARD_RABBITMQ_SECURE_PORT / _TLS_PORT / _DIST_PORT`,
          )
        }
      }
      rmSync(paths().pid, { force: true })
      spawnDetached(join(sbin, 'rabbitmq-server'), [], {
        logFile: paths().out,
        cwd: paths().home,
        env: nodeEnv(),
      })
      action = 'started'
    }
    const wait = (what: string, tls: boolean): Promise<string> =>
      waitFor(what, brokersSettings.readyTimeoutMs, () => handshake(tls), 300).catch((error: Error) => {
        throw fail(error.message)
      })
    await wait(`sysec@localhost to accept AMQP on ${conn.port}`, false)
    await ensureUser()
    const version = await wait(`the test user to log in over TLS on ${conn.tlsPort}`, true)
    return { broker: 'rabbitmq-secure', action, pid: nodePid(), version, ms: Date.now() - began }
  },

  async stop(): Promise<void> {
    const pid = nodePid()
    if (pid === undefined) return
    await ctl(['stop'], 60_000).catch(() => undefined)
    await waitFor('rabbitmq-secure to exit', 30_000, () => (isAlive(pid) ? undefined : true)).catch(() => {
      process.kill(pid, 'SIGKILL')
    })
  },

  async status(): Promise<BrokerStatus> {
    const pid = nodePid()
    return {
      broker: 'rabbitmq-secure',
      running: pid !== undefined,
      managed: true,
      pid,
      version: pid === undefined ? undefined : await handshake(false).catch(() => undefined),
      ports: { amqp: conn.port, amqps: conn.tlsPort, dist: conn.distPort, epmd: conn.epmdPort },
      dataDir: paths().mnesia,
      logFile: paths().out,
    }
  },
}
