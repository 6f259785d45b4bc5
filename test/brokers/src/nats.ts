/**
 * The NATS test servers, from Debian's `nats-server` (installed when missing), each with JetStream
 * and its own store folder under the state folder, never the machine's own NATS on 4222:
 * `nats` on 127.0.0.1:4232 without authentication or TLS, and `nats-auth` on 127.0.0.1:4233 that
 * speaks only TLS (the test PKI's server certificate; a client certificate from the test CA
 * required) and accepts only the test user (user/password), the test nkey user (its seed is made
 * once and kept in the state folder) and users made for a run. Readiness is a JetStream account-info round trip with the `@nats-io`
 * client; `clean` deletes every stream on `nats`. Not a transport: that is packages/nats.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { jetstreamManager } from '@nats-io/jetstream'
import { createUser, fromSeed } from '@nats-io/nkeys'
import { type ConnectionOptions, connect, nkeyAuthenticator } from '@nats-io/transport-node'
import { type BrokerDriver, BrokerError, type BrokerStatus, type UpResult } from './broker.js'
import { brokersSettings } from './env.js'
import { aptInstall } from './install.js'
import { ensurePki, testClientTls, testPkiFiles } from './pki.js'
import {
  commandLine,
  describeListener,
  FatalWait,
  findCommand,
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

/** The NATS test server (JetStream on, file store in the state folder). */
export const natsConnection = {
  host: '127.0.0.1',
  port: Number(process.env.SWITCHYARD_NATS_PORT ?? '4232'),
  get servers(): string[] {
    return [`${this.host}:${this.port}`]
  },
}

const authHome = join(brokersSettings.dir, 'nats-auth')
const nkeyFile = join(authHome, 'user.nk')

/**
 * The NATS test server with TLS and authorization (JetStream on): user `username` with `password`,
 * or the nkey user whose seed `nkeySeed()` returns (made by `up nats-auth`), each over TLS with
 * the client certificate `tls()` gives. Nothing else gets in.
 */
export const natsAuthConnection = {
  host: '127.0.0.1',
  port: Number(process.env.SWITCHYARD_NATS_AUTH_PORT ?? '4233'),
  username: process.env.SWITCHYARD_NATS_AUTH_USER ?? 'switchyard',
  password: process.env.SWITCHYARD_NATS_AUTH_PASSWORD ?? 'switchyard-nats-password',
  get servers(): string[] {
    return [`${this.host}:${this.port}`]
  },
  /** Client TLS options: the test CA, the client certificate and its key (PEM text). */
  tls(): { ca: string; cert: string; key: string } {
    const { ca, cert, key } = testClientTls()
    return { ca: ca.toString(), cert: cert.toString(), key: key.toString() }
  },
  /** The test nkey user's seed (`SU…`), made once by `up nats-auth` and kept in the state folder. */
  nkeySeed(): string {
    return readFileSync(nkeyFile, 'utf8').trim()
  },
}

const command = process.env.SWITCHYARD_NATS_SERVER ?? 'nats-server'
const isNatsCommand = (line: string): boolean => /(^|\/)nats-server(\s|$)/.test(line)

/** What differs between the two servers. */
interface NatsServerSpec {
  readonly name: 'nats' | 'nats-auth'
  readonly connection: { readonly host: string; readonly port: number; readonly servers: string[] }
  readonly home: string
  /** Credentials of the readiness probe. */
  readonly login: () => Partial<ConnectionOptions>
  /** Arguments besides address and port, JetStream with its store (`home`/store) included; may write files into `home`. */
  readonly args: () => string[]
  /** Made before the server is started or reused (the test PKI). */
  readonly prepare?: () => Promise<unknown>
}

/** A driver for one NATS server: start, readiness, stop and status, all on its own port and folder. */
const natsServer = (spec: NatsServerSpec): BrokerDriver => {
  const { name, connection } = spec
  const paths = {
    store: join(spec.home, 'store'),
    log: join(spec.home, 'nats.log'),
    pid: join(spec.home, 'nats.pid'),
  }
  const fail = (message: string): BrokerError => new BrokerError(name, message, paths.log)

  /** Connects, asks JetStream for the account info and returns the server version. */
  const probe = async (): Promise<string> => {
    const nc = await connect({
      servers: connection.servers,
      reconnect: false,
      timeout: 2000,
      ...spec.login(),
    })
    try {
      await within(
        5000,
        'a JetStream account-info request',
        (async () => (await jetstreamManager(nc)).getAccountInfo())(),
      )
      return nc.info?.version ?? 'unknown'
    } finally {
      await nc.close().catch(() => {})
    }
  }

  const runningPid = (): number | undefined => {
    const listener = listenerOn(connection.port)
    if (listener?.pid !== undefined && isNatsCommand(listener.command)) return listener.pid
    return readPid(paths.pid)
  }

  /** The server's arguments (writing its files, for `nats-auth` its configuration). */
  const startArgs = (): string[] => ['-a', connection.host, '-p', String(connection.port), ...spec.args()]

  const start = async (): Promise<number> => {
    const listener = listenerOn(connection.port)
    if (listener) {
      throw fail(
        `port ${connection.port} is taken by ${describeListener(listener)}, which does not answer as NATS ` +
          `with JetStream. Stop it, or move this NATS with SWITCHYARD_${name === 'nats' ? 'NATS' : 'NATS_AUTH'}_PORT.`,
      )
    }
    await aptInstall('nats', command, ['nats-server'])
    const binary = findCommand(command)
    if (!binary) throw fail(`${command} is still missing after installing nats-server`)
    mkdirSync(paths.store, { recursive: true })
    const args = startArgs()
    appendFileSync(paths.log, `\n=== switchyard-brokers: starting ${name} at ${new Date().toISOString()}\n`)
    const pid = spawnDetached(binary, args, { logFile: paths.log, cwd: spec.home })
    writeFileSync(paths.pid, `${pid}\n`)
    return pid
  }

  const waitReady = async (pid: number | undefined): Promise<string> => {
    try {
      return await waitFor(`JetStream on ${connection.servers[0]}`, brokersSettings.readyTimeoutMs, () => {
        if (pid !== undefined && !isAlive(pid)) {
          throw new FatalWait(new Error(`the nats-server process (pid ${pid}) exited:\n${tail(paths.log)}`))
        }
        return probe()
      })
    } catch (error) {
      throw fail(`not ready: ${(error as Error).message}`)
    }
  }

  return {
    name,
    logFile: () => paths.log,

    async up(): Promise<UpResult> {
      const began = Date.now()
      await spec.prepare?.()
      let listener = listenerOn(connection.port)
      // A server this manager started with other arguments (an older version of it: `nats-auth`
      // had JetStream as flags, which a reload of its file turns off) is started again with ours.
      const found = listener?.pid
      if (
        found !== undefined &&
        found === readPid(paths.pid) &&
        !commandLine(found).endsWith(startArgs().join(' '))
      ) {
        await stopProcess(found, 15_000)
        listener = undefined
      }
      if (listener) {
        const version = await probe().catch(() => undefined)
        if (version !== undefined)
          return { broker: name, action: 'reused', pid: runningPid(), version, ms: Date.now() - began }
        if (isNatsCommand(listener.command)) {
          const ready = await waitReady(listener.pid)
          return { broker: name, action: 'reused', pid: listener.pid, version: ready, ms: Date.now() - began }
        }
      }
      const pid = await start()
      const version = await waitReady(pid)
      return { broker: name, action: 'started', pid, version, ms: Date.now() - began }
    },

    async stop(): Promise<void> {
      const pid = runningPid()
      if (pid === undefined) return
      if (!isNatsCommand(commandLine(pid))) throw fail(`pid ${pid} is not nats-server; not stopping it`)
      await stopProcess(pid, 15_000)
      rmSync(paths.pid, { force: true })
    },

    async status(): Promise<BrokerStatus> {
      const pid = runningPid()
      let version: string | undefined
      if (pid !== undefined) version = await probe().catch(() => undefined)
      if (version === undefined && findCommand(command)) {
        const out = await run(command, ['--version'], { timeoutMs: 5000 }).catch(() => undefined)
        version = out?.stdout.trim().replace(/^nats-server: v?/, '') || undefined
      }
      return {
        broker: name,
        running: pid !== undefined,
        managed: pid !== undefined && pid === readPid(paths.pid),
        pid,
        version,
        ports: { client: connection.port },
        dataDir: paths.store,
        logFile: paths.log,
      }
    },
  }
}

/** The NATS JetStream test server on 127.0.0.1:4232. */
export const natsBroker: BrokerDriver = natsServer({
  name: 'nats',
  connection: natsConnection,
  home: join(brokersSettings.dir, 'nats'),
  login: () => ({}),
  args: () => ['-n', 'switchyard-test', '-js', '-sd', join(brokersSettings.dir, 'nats', 'store')],
})

/** The test nkey user's seed, made on first use and kept (mode 600) in the state folder. */
const ensureNkeySeed = (): string => {
  if (!existsSync(nkeyFile)) {
    mkdirSync(authHome, { recursive: true })
    writeFileSync(nkeyFile, `${new TextDecoder().decode(createUser().getSeed())}\n`, { mode: 0o600 })
  }
  return natsAuthConnection.nkeySeed()
}

/** A quoted string in the server's configuration syntax. */
const quoted = (value: string): string => JSON.stringify(value)

/** The NATS JetStream test server with authorization on 127.0.0.1:4233 (`up nats-auth`, `up all`). */
export const natsAuthBroker: BrokerDriver = natsServer({
  name: 'nats-auth',
  connection: natsAuthConnection,
  home: authHome,
  login: () => ({
    user: natsAuthConnection.username,
    pass: natsAuthConnection.password,
    tls: natsAuthConnection.tls(),
  }),
  prepare: ensurePki,
  args: () => {
    writeAuthConfig()
    return ['-c', authConfig]
  },
})

// Named for TLS: a server this manager started with the file of before (no TLS) has another
// command line, so `up` starts it again.
const authConfig = join(authHome, 'nats-auth-tls.conf')
/** Users made for one test run (`temporaryNatsAuthUser`), kept until removed: `{ name: password }`. */
const runUsersFile = join(authHome, 'run-users.json')

const readRunUsers = (): Record<string, string> =>
  existsSync(runUsersFile) ? (JSON.parse(readFileSync(runUsersFile, 'utf8')) as Record<string, string>) : {}
/** Public keys of nkey users made for one test run (`temporaryNatsAuthNkeyUser`). */
const runNkeysFile = join(authHome, 'run-nkeys.json')
const readRunNkeys = (): string[] =>
  existsSync(runNkeysFile) ? (JSON.parse(readFileSync(runNkeysFile, 'utf8')) as string[]) : []

/**
 * Writes the server's configuration: the test user, the nkey user and the users made for a run.
 * Passwords go into the state folder only (mode 600), never onto the command line.
 */
const writeAuthConfig = (): void => {
  mkdirSync(authHome, { recursive: true })
  const publicKey = fromSeed(new TextEncoder().encode(ensureNkeySeed())).getPublicKey()
  const users = [
    `{ user: ${quoted(natsAuthConnection.username)}, password: ${quoted(natsAuthConnection.password)} }`,
    `{ nkey: ${quoted(publicKey)} }`,
    ...Object.entries(readRunUsers()).map(
      ([user, password]) => `{ user: ${quoted(user)}, password: ${quoted(password)} }`,
    ),
    ...readRunNkeys().map((key) => `{ nkey: ${quoted(key)} }`),
  ]
  // JetStream in the file, not as flags: nats-server 2.9.10 turns JetStream off when it reloads a
  // file without it (seen after the SIGHUP of `setNatsAuthRunUser`).
  const jetstream = `jetstream {\n  store_dir: ${quoted(join(authHome, 'store'))}\n}\n`
  const pki = testPkiFiles()
  const tls = [
    'tls {',
    `  cert_file: ${quoted(pki.serverCert)}`,
    `  key_file: ${quoted(pki.serverKey)}`,
    `  ca_file: ${quoted(pki.caCert)}`,
    '  verify: true',
    '  timeout: 2',
    '}',
    '',
  ].join('\n')
  writeFileSync(
    authConfig,
    `server_name: switchyard-test-auth\n${jetstream}${tls}authorization {\n  users: [\n    ${users.join('\n    ')}\n  ]\n}\n`,
    { mode: 0o600 },
  )
}

/**
 * Adds (`password` given) or removes a user of the running `nats-auth` server: rewrites its
 * configuration, has the server reload it (`SIGHUP`) and waits until the user can log in, or no
 * longer can. For `temporaryNatsAuthUser`; never logs the password.
 */
export async function setNatsAuthRunUser(user: string, password: string | undefined): Promise<void> {
  const users = readRunUsers()
  if (password === undefined) delete users[user]
  else users[user] = password
  mkdirSync(authHome, { recursive: true })
  writeFileSync(runUsersFile, JSON.stringify(users), { mode: 0o600 })
  await reloadAuth(`nats-auth user ${user}`, password !== undefined, { user, pass: password ?? 'removed' })
}

/**
 * Adds (`add`) or removes the nkey user of `seed` on the running `nats-auth` server, like
 * {@link setNatsAuthRunUser}: only the public key goes into the configuration.
 */
export async function setNatsAuthRunNkey(seed: string, add: boolean): Promise<void> {
  const publicKey = fromSeed(new TextEncoder().encode(seed)).getPublicKey()
  const keys = readRunNkeys().filter((key) => key !== publicKey)
  if (add) keys.push(publicKey)
  mkdirSync(authHome, { recursive: true })
  writeFileSync(runNkeysFile, JSON.stringify(keys), { mode: 0o600 })
  await reloadAuth(`nats-auth nkey user ${publicKey}`, add, {
    authenticator: nkeyAuthenticator(new TextEncoder().encode(seed)),
  })
}

/** Rewrites the configuration, has the server reload it (`SIGHUP`) and waits until `login` works (or no longer does). */
async function reloadAuth(what: string, accepted: boolean, login: Partial<ConnectionOptions>): Promise<void> {
  writeAuthConfig()
  const listener = listenerOn(natsAuthConnection.port)
  if (listener?.pid === undefined || !isNatsCommand(listener.command)) {
    throw new BrokerError('nats-auth', 'is not running: run `up nats-auth` first', join(authHome, 'nats.log'))
  }
  process.kill(listener.pid, 'SIGHUP')
  await waitForLogin(what, accepted, 10_000, async () => {
    const nc = await connect({
      servers: natsAuthConnection.servers,
      reconnect: false,
      timeout: 2000,
      tls: natsAuthConnection.tls(),
      ...login,
    })
    await nc.close()
  })
}

/** Deletes every stream (with its consumers) on the test server; returns how many. */
export const cleanNatsStreams = async (): Promise<number> => {
  const nc = await connect({ servers: natsConnection.servers, reconnect: false, timeout: 3000 })
  try {
    const jsm = await jetstreamManager(nc)
    const names: string[] = []
    for await (const name of jsm.streams.names()) names.push(name)
    for (const name of names) await jsm.streams.delete(name)
    return names.length
  } finally {
    await nc.close().catch(() => {})
  }
}
