/**
 * The PostgreSQL test server: Debian's `postgresql` binaries (installed when missing) running a
 * cluster of the manager's own on 127.0.0.1:5442, never the machine's PostgreSQL on 5432. TCP only
 * (no Unix socket), password authentication (SCRAM) for the superuser `switchyard`, a database
 * `switchyard`. PostgreSQL refuses to run as root: when the manager runs as root, the server runs
 * as the `postgres` system user (which the Debian package creates) and its data folder lives in
 * `/var/lib/switchyard/postgres`, because the root user's cache folder is closed to other users.
 * Readiness is `SELECT 1` answered on the test database.
 */
import { spawn } from 'node:child_process'
import {
  appendFileSync,
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { dirname, join } from 'node:path'
import pg from 'pg'
import { type BrokerDriver, BrokerError, type BrokerStatus, type UpResult } from './broker.js'
import { brokersSettings, postgresConnection } from './env.js'
import { aptInstall } from './install.js'
import {
  commandLine,
  describeListener,
  FatalWait,
  isAlive,
  listenerOn,
  readPid,
  stopProcess,
  tail,
  waitFor,
  within,
} from './proc.js'

const isRoot = (): boolean => process.getuid?.() === 0

const paths = () => {
  const home = join(brokersSettings.dir, 'postgres')
  const data = isRoot()
    ? join('/var/lib/switchyard/postgres', String(postgresConnection.port))
    : join(home, 'data')
  return { home, data, log: join(home, 'postgres.log'), pid: join(home, 'postgres.pid') }
}

const fail = (message: string): BrokerError => new BrokerError('postgres', message, paths().log)

const isPostgresCommand = (command: string): boolean => /postgres/.test(command) && !/node/.test(command)

/** The folder of the newest Debian PostgreSQL binaries (or `SWITCHYARD_POSTGRES_BIN`). */
const binDir = (): string | undefined => {
  if (process.env.SWITCHYARD_POSTGRES_BIN) return process.env.SWITCHYARD_POSTGRES_BIN
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return undefined
  const versions = readdirVersions(root).filter((v) => existsSync(join(root, v, 'bin', 'postgres')))
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0]
  return newest === undefined ? undefined : join(root, newest, 'bin')
}

const readdirVersions = (root: string): string[] => {
  try {
    return readdirSync(root).filter((name) => /^\d+$/.test(name))
  } catch {
    return []
  }
}

/** uid and gid of the `postgres` system user (from /etc/passwd), for running the server as root. */
const postgresUser = (): { uid: number; gid: number } => {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'))
  const [, , uid, gid] = line?.split(':') ?? []
  if (uid === undefined || gid === undefined) {
    throw fail('running as root needs the `postgres` system user (created by the Debian postgresql package)')
  }
  return { uid: Number(uid), gid: Number(gid) }
}

const runAs = (): { uid?: number; gid?: number } => (isRoot() ? postgresUser() : {})

/** Runs a PostgreSQL tool as the server's user and resolves with its output; rejects on a failure exit. */
const tool = (command: string, args: string[], timeoutMs: number): Promise<string> =>
  new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { ...runAs(), stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      if (code === 0) resolvePromise(output)
      else reject(new Error(`\`${command} ${args.join(' ')}\` exited ${code}:\n${output.slice(-2000)}`))
    })
  })

const ensureInstalled = async (): Promise<string> => {
  const found = binDir()
  if (found) return found
  // The package may start its own cluster on 5432 where init scripts run; ours is separate.
  await aptInstall('postgres', '/usr/lib/postgresql', ['postgresql'])
  const installed = binDir()
  if (!installed) throw fail('the PostgreSQL binaries are still missing after installing postgresql')
  return installed
}

/** Creates the cluster (`initdb`) the first time: superuser `switchyard`, SCRAM passwords, UTF-8. */
const initCluster = async (bin: string): Promise<void> => {
  const p = paths()
  if (existsSync(join(p.data, 'PG_VERSION'))) return
  // The parents stay traversable for the server's user; the data folder itself is its own (0700).
  mkdirSync(dirname(p.data), { recursive: true, mode: 0o755 })
  mkdirSync(p.data, { recursive: true, mode: 0o700 })
  const owner = runAs()
  if (owner.uid !== undefined && owner.gid !== undefined) chownSync(p.data, owner.uid, owner.gid)
  const pwfile = join(p.data, '..', `.pw-${postgresConnection.port}`)
  writeFileSync(pwfile, `${postgresConnection.password}\n`, { mode: 0o600 })
  if (owner.uid !== undefined && owner.gid !== undefined) chownSync(pwfile, owner.uid, owner.gid)
  try {
    await tool(
      join(bin, 'initdb'),
      [
        '-D',
        p.data,
        '-U',
        postgresConnection.user,
        `--pwfile=${pwfile}`,
        '--auth=scram-sha-256',
        '-E',
        'UTF8',
        '--locale=C',
      ],
      brokersSettings.installTimeoutMs,
    )
  } catch (error) {
    rmSync(p.data, { recursive: true, force: true })
    throw fail(`initdb failed: ${(error as Error).message}`)
  } finally {
    rmSync(pwfile, { force: true })
  }
}

const start = async (): Promise<number> => {
  const listener = listenerOn(postgresConnection.port)
  if (listener) {
    throw fail(
      `port ${postgresConnection.port} is taken by ${describeListener(listener)}, which does not answer as this PostgreSQL. ` +
        'Stop it, or move this one with SWITCHYARD_POSTGRES_PORT.',
    )
  }
  const bin = await ensureInstalled()
  const p = paths()
  mkdirSync(p.home, { recursive: true })
  await initCluster(bin)
  const args = [
    '-D',
    p.data,
    '-p',
    String(postgresConnection.port),
    '-c',
    `listen_addresses=${postgresConnection.host}`,
  ]
  args.push('-c', 'unix_socket_directories=', '-c', 'max_connections=200', '-c', 'shared_buffers=64MB')
  appendFileSync(p.log, `\n=== switchyard-brokers: starting postgres at ${new Date().toISOString()}\n`)
  const fd = openSync(p.log, 'a')
  try {
    const child = spawn(join(bin, 'postgres'), args, {
      ...runAs(),
      cwd: '/',
      detached: true,
      stdio: ['ignore', fd, fd],
    })
    child.on('error', () => {})
    child.unref()
    if (child.pid === undefined) throw fail('could not start postgres')
    writeFileSync(p.pid, `${child.pid}\n`)
    return child.pid
  } finally {
    closeSync(fd)
  }
}

/** Runs `use` on a fresh connection to `database`, then closes it. */
export const withPostgres = async <T>(
  database: string,
  use: (client: pg.Client) => Promise<T>,
): Promise<T> => {
  const { host, port, user, password } = postgresConnection
  const client = new pg.Client({ host, port, user, password, database, connectionTimeoutMillis: 2000 })
  client.on('error', () => {}) // reported through the rejected query
  try {
    await within(3000, `connecting to postgres on ${host}:${port}`, client.connect())
    return await within(10_000, `a query on postgres ${host}:${port}`, use(client))
  } finally {
    await client.end().catch(() => {})
  }
}

/** The server's version once it answers; creates the test database the first time. */
const ready = (): Promise<string> =>
  withPostgres('postgres', async (client) => {
    const version =
      (await client.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]?.v ??
      'unknown'
    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [
      postgresConnection.database,
    ])
    if (exists.rowCount === 0) await client.query(`CREATE DATABASE "${postgresConnection.database}"`)
    return version.split(' ')[0] ?? version
  })

const waitReady = async (pid: number | undefined): Promise<string> => {
  try {
    return await waitFor(
      `postgres on ${postgresConnection.host}:${postgresConnection.port}`,
      brokersSettings.readyTimeoutMs,
      () => {
        if (pid !== undefined && !isAlive(pid)) {
          throw new FatalWait(new Error(`the postgres process (pid ${pid}) exited:\n${tail(paths().log)}`))
        }
        return ready()
      },
    )
  } catch (error) {
    if (error instanceof BrokerError) throw error
    throw fail(`not ready: ${(error as Error).message}`)
  }
}

const runningPid = (): number | undefined => {
  const listener = listenerOn(postgresConnection.port)
  if (listener?.pid !== undefined && isPostgresCommand(listener.command)) return listener.pid
  return readPid(paths().pid)
}

/** The Switchyard test PostgreSQL on 127.0.0.1:5442 (`SWITCHYARD_POSTGRES_PORT`). */
export const postgresBroker: BrokerDriver = {
  name: 'postgres',
  logFile: () => paths().log,

  async up(): Promise<UpResult> {
    const began = Date.now()
    const done = (action: UpResult['action'], pid: number | undefined, version: string): UpResult => ({
      broker: 'postgres',
      action,
      pid,
      version,
      ms: Date.now() - began,
    })
    const listener = listenerOn(postgresConnection.port)
    if (listener && isPostgresCommand(listener.command)) {
      return done('reused', runningPid(), await waitReady(listener.pid))
    }
    const pid = await start()
    return done('started', pid, await waitReady(pid))
  },

  async stop(): Promise<void> {
    const pid = runningPid()
    if (pid === undefined) return
    if (!isPostgresCommand(commandLine(pid))) throw fail(`pid ${pid} is not postgres; not stopping it`)
    // SIGINT is PostgreSQL's fast shutdown: it ends sessions and checkpoints; SIGTERM would wait for clients.
    try {
      process.kill(pid, 'SIGINT')
    } catch {
      return
    }
    await stopProcess(pid, 30_000)
    rmSync(paths().pid, { force: true })
  },

  async status(): Promise<BrokerStatus> {
    const p = paths()
    const pid = runningPid()
    return {
      broker: 'postgres',
      running: pid !== undefined,
      managed: pid !== undefined && pid === readPid(p.pid),
      pid,
      version: pid === undefined ? undefined : await ready().catch(() => undefined),
      ports: { client: postgresConnection.port },
      dataDir: p.data,
      logFile: p.log,
    }
  },
}

/** Drops every schema the tests made (`sy_…`) in the test database (`clean postgres`). */
export const cleanPostgresSchemas = (): Promise<number> =>
  withPostgres(postgresConnection.database, async (client) => {
    const schemas = await client.query<{ name: string }>(
      "SELECT nspname AS name FROM pg_namespace WHERE nspname LIKE 'sy\\_%'",
    )
    for (const { name } of schemas.rows) await client.query(`DROP SCHEMA "${name}" CASCADE`)
    return schemas.rowCount ?? 0
  })
