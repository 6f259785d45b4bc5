/**
 * The Redis test server: Debian's `redis-server` (installed when missing) on 127.0.0.1:6390, and
 * with TLS on 6393 (the test PKI's server certificate; client certificates required), with
 * the append-only file on (`appendfsync everysec`) so that a restart keeps accepted stream entries,
 * its data folder under the state folder. The machine's own Redis on 6379 is never used.
 * Readiness is a PING answered with PONG (a server still loading its AOF answers LOADING).
 */
import { appendFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createClient } from 'redis'
import { type BrokerDriver, BrokerError, type BrokerStatus, type UpResult } from './broker.js'
import { brokersSettings, redisConnection } from './env.js'
import { aptInstall } from './install.js'
import { ensurePki } from './pki.js'
import {
  commandLine,
  describeListener,
  FatalWait,
  findCommand,
  isAlive,
  listenerOn,
  readPid,
  spawnDetached,
  stopProcess,
  tail,
  waitFor,
  within,
} from './proc.js'

const paths = () => {
  const home = join(brokersSettings.dir, 'redis')
  return { home, data: join(home, 'data'), log: join(home, 'redis.log'), pid: join(home, 'redis.pid') }
}

const fail = (message: string): BrokerError => new BrokerError('redis', message, paths().log)

const isRedisCommand = (command: string): boolean => /redis-server/.test(command)

const connectOnce = () =>
  createClient({
    url: redisConnection.url,
    RESP: 2,
    socket: { connectTimeout: 2000, reconnectStrategy: false },
  })

/** Runs `use` on a fresh connection that does not reconnect, then closes it. */
export const withRedis = async <T>(
  use: (client: ReturnType<typeof connectOnce>) => Promise<T>,
): Promise<T> => {
  const client = connectOnce()
  client.on('error', () => {}) // reported through the rejected command
  try {
    await within(3000, `connecting to ${redisConnection.url}`, client.connect())
    return await within(10_000, `a command on ${redisConnection.url}`, use(client))
  } finally {
    client.destroy()
  }
}

/** The server's version once it answers PING with PONG (not LOADING). */
const ping = (): Promise<string> =>
  withRedis(async (client) => {
    const pong = await client.ping()
    if (pong !== 'PONG') throw new Error(`PING answered ${pong}`)
    const info = await client.info('server')
    return /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown'
  })

const runningPid = (): number | undefined => {
  const listener = listenerOn(redisConnection.port)
  if (listener?.pid !== undefined && isRedisCommand(listener.command)) return listener.pid
  return readPid(paths().pid)
}

const ensureInstalled = async (): Promise<string> => {
  const found = findCommand(brokersSettings.redisCommand)
  if (found) return found
  // Where init scripts may run, the package starts its own server on 6379; ours is separate.
  await aptInstall('redis', brokersSettings.redisCommand, ['redis-server'])
  const installed = findCommand(brokersSettings.redisCommand)
  if (!installed) throw fail(`${brokersSettings.redisCommand} is still missing after installing redis-server`)
  return installed
}

const start = async (): Promise<number> => {
  for (const [port, variable] of [
    [redisConnection.port, 'SWITCHYARD_REDIS_PORT'],
    [redisConnection.tlsPort, 'SWITCHYARD_REDIS_TLS_PORT'],
  ] as const) {
    const listener = listenerOn(port)
    if (listener) {
      throw fail(
        `port ${port} is taken by ${describeListener(listener)}, which does not answer as Redis. ` +
          `Stop it, or move this Redis with ${variable}.`,
      )
    }
  }
  const server = await ensureInstalled()
  const p = paths()
  mkdirSync(p.data, { recursive: true })
  // A config file of our own holding only the ACL user (mode 600: its password is never on the
  // command line), so Debian's /etc/redis/redis.conf is not read and the user exists from the first
  // command on: a client of that user reconnecting after `restart('redis')` is not refused before
  // `up` sets it again (as it does on a server it reuses). Everything else is on the command line.
  const config = join(p.home, 'redis.conf')
  writeFileSync(config, `user ${aclUserRule().join(' ')}\n`, { mode: 0o600 })
  const pki = await ensurePki()
  const args = [config, '--port', String(redisConnection.port), '--bind', redisConnection.host]
  // TLS on a second port of the same server, client certificates from the test CA required.
  args.push('--tls-port', String(redisConnection.tlsPort), '--tls-cert-file', pki.serverCert)
  args.push('--tls-key-file', pki.serverKey, '--tls-ca-cert-file', pki.caCert, '--tls-auth-clients', 'yes')
  args.push('--dir', p.data, '--daemonize', 'no', '--logfile', '', '--protected-mode', 'yes')
  args.push('--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '')
  appendFileSync(p.log, `\n=== switchyard-brokers: starting redis at ${new Date().toISOString()}\n`)
  const pid = spawnDetached(server, args, { logFile: p.log, cwd: p.home })
  writeFileSync(p.pid, `${pid}\n`)
  return pid
}

const waitReady = async (pid: number | undefined): Promise<string> => {
  try {
    return await waitFor(`PONG from ${redisConnection.url}`, brokersSettings.readyTimeoutMs, () => {
      if (pid !== undefined && !isAlive(pid)) {
        throw new FatalWait(new Error(`the redis-server process (pid ${pid}) exited:\n${tail(paths().log)}`))
      }
      return ping()
    })
  } catch (error) {
    if (error instanceof BrokerError) throw error
    throw fail(`not ready: ${(error as Error).message}`)
  }
}

/**
 * The commands the Redis transport sends, and nothing else: the stream commands, `DEL` (deleting a
 * topic), `EVAL` with the `GET`/`SET`/`DEL` of its lease script (`ordered` subscriptions), `INFO`
 * (health), `CLIENT ID`/`UNBLOCK` (waking its own blocked read on unsubscribe) and the handshake
 * (`CLIENT SETINFO` is left out: node-redis ignores its failure, and Redis 7.0 does not know it).
 * No `CONFIG`: health then says what `INFO` tells, as on managed Redis.
 */
export const redisAclCommands = [
  '+@stream',
  '+del',
  '+eval',
  '+get',
  '+set',
  '+info',
  '+ping',
  '+hello',
  '+auth',
  '+select',
  '+client|id',
  '+client|unblock',
] as const

/**
 * Sets the ACL user of `redisConnection` (idempotent: `reset` first), so it exists whether this `up`
 * started the server or found it running. The password is sent in the command, never logged.
 */
const setAclUser = (): Promise<unknown> =>
  withRedis((client) => client.sendCommand(['ACL', 'SETUSER', ...aclUserRule()]))

/** The ACL rule of `redisConnection`'s user: name, then `reset on >password ~prefix* …`. */
const aclUserRule = (): string[] => [
  redisConnection.aclUser,
  'reset',
  'on',
  `>${redisConnection.aclPassword}`,
  `~${redisConnection.aclKeyPrefix}*`,
  'resetchannels',
  ...redisAclCommands,
]

/** The Switchyard test Redis on 127.0.0.1:6390 (`SWITCHYARD_REDIS_PORT`). */
export const redisBroker: BrokerDriver = {
  name: 'redis',
  logFile: () => paths().log,

  async up(): Promise<UpResult> {
    const began = Date.now()
    const done = (action: UpResult['action'], pid: number | undefined, version: string): UpResult => ({
      broker: 'redis',
      action,
      pid,
      version,
      ms: Date.now() - began,
    })
    let listener = listenerOn(redisConnection.port)
    // A server this manager started before it had a TLS port is started again with one.
    if (
      listener?.pid !== undefined &&
      isRedisCommand(listener.command) &&
      listener.pid === readPid(paths().pid) &&
      listenerOn(redisConnection.tlsPort) === undefined
    ) {
      await stopProcess(listener.pid, 15_000)
      listener = undefined
    }
    if (listener && isRedisCommand(listener.command)) {
      const version = await waitReady(listener.pid)
      await setAclUser()
      return done('reused', runningPid(), version)
    }
    const pid = await start()
    const version = await waitReady(pid)
    await setAclUser()
    return done('started', pid, version)
  },

  async stop(): Promise<void> {
    const pid = runningPid()
    if (pid === undefined) return
    if (!isRedisCommand(commandLine(pid))) throw fail(`pid ${pid} is not redis-server; not stopping it`)
    // SIGTERM: Redis fsyncs the append-only file before it exits.
    await stopProcess(pid, 15_000)
    rmSync(paths().pid, { force: true })
  },

  async status(): Promise<BrokerStatus> {
    const p = paths()
    const pid = runningPid()
    return {
      broker: 'redis',
      running: pid !== undefined,
      managed: pid !== undefined && pid === readPid(p.pid),
      pid,
      version: pid === undefined ? undefined : await ping().catch(() => undefined),
      ports: { client: redisConnection.port, tls: redisConnection.tlsPort },
      dataDir: p.data,
      logFile: p.log,
    }
  },
}

/** Deletes every stream of the test Redis (`clean redis`); other key types are left alone. */
export const cleanRedisStreams = (): Promise<number> =>
  withRedis(async (client) => {
    let removed = 0
    for await (const keys of client.scanIterator({ TYPE: 'stream', COUNT: 1000 })) {
      if (keys.length > 0) removed += await client.del(keys)
    }
    return removed
  })
