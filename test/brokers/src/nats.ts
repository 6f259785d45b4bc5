/**
 * The NATS test server, from Debian's `nats-server` (installed when missing): JetStream on
 * 127.0.0.1:4232 (never the machine's own NATS on 4222), with its own store folder under the state
 * folder. Readiness is a JetStream account-info round trip with the `@nats-io` client; `clean`
 * deletes every stream on it. Not a transport: that is packages/nats.
 */
import { appendFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { type BrokerDriver, BrokerError, type BrokerStatus, type UpResult } from './broker.js'
import { brokersSettings } from './env.js'
import { aptInstall } from './install.js'
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

const command = process.env.SWITCHYARD_NATS_SERVER ?? 'nats-server'
const home = join(brokersSettings.dir, 'nats')
const paths = { home, store: join(home, 'store'), log: join(home, 'nats.log'), pid: join(home, 'nats.pid') }
const fail = (message: string): BrokerError => new BrokerError('nats', message, paths.log)
const isNatsCommand = (line: string): boolean => /(^|\/)nats-server(\s|$)/.test(line)

/** Connects, asks JetStream for the account info and returns the server version. */
const probe = async (): Promise<string> => {
  const nc = await connect({ servers: natsConnection.servers, reconnect: false, timeout: 2000 })
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
  const listener = listenerOn(natsConnection.port)
  if (listener?.pid !== undefined && isNatsCommand(listener.command)) return listener.pid
  return readPid(paths.pid)
}

const start = async (): Promise<number> => {
  const listener = listenerOn(natsConnection.port)
  if (listener) {
    throw fail(
      `port ${natsConnection.port} is taken by ${describeListener(listener)}, which does not answer as NATS ` +
        'with JetStream. Stop it, or move the test NATS with SWITCHYARD_NATS_PORT.',
    )
  }
  await aptInstall('nats', command, ['nats-server'])
  const binary = findCommand(command)
  if (!binary) throw fail(`${command} is still missing after installing nats-server`)
  mkdirSync(paths.store, { recursive: true })
  const args = ['-a', natsConnection.host, '-p', String(natsConnection.port), '-n', 'switchyard-test']
  args.push('-js', '-sd', paths.store)
  appendFileSync(paths.log, `\n=== switchyard-brokers: starting nats at ${new Date().toISOString()}\n`)
  const pid = spawnDetached(binary, args, { logFile: paths.log, cwd: paths.home })
  writeFileSync(paths.pid, `${pid}\n`)
  return pid
}

const waitReady = async (pid: number | undefined): Promise<string> => {
  try {
    return await waitFor(`JetStream on ${natsConnection.servers[0]}`, brokersSettings.readyTimeoutMs, () => {
      if (pid !== undefined && !isAlive(pid)) {
        throw new FatalWait(new Error(`the nats-server process (pid ${pid}) exited:\n${tail(paths.log)}`))
      }
      return probe()
    })
  } catch (error) {
    throw fail(`not ready: ${(error as Error).message}`)
  }
}

/** The NATS JetStream test server on 127.0.0.1:4232. */
export const natsBroker: BrokerDriver = {
  name: 'nats',
  logFile: () => paths.log,

  async up(): Promise<UpResult> {
    const began = Date.now()
    const listener = listenerOn(natsConnection.port)
    if (listener) {
      const version = await probe().catch(() => undefined)
      if (version !== undefined)
        return { broker: 'nats', action: 'reused', pid: runningPid(), version, ms: Date.now() - began }
      if (isNatsCommand(listener.command)) {
        const ready = await waitReady(listener.pid)
        return { broker: 'nats', action: 'reused', pid: listener.pid, version: ready, ms: Date.now() - began }
      }
    }
    const pid = await start()
    const version = await waitReady(pid)
    return { broker: 'nats', action: 'started', pid, version, ms: Date.now() - began }
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
      broker: 'nats',
      running: pid !== undefined,
      managed: pid !== undefined && pid === readPid(paths.pid),
      pid,
      version,
      ports: { client: natsConnection.port },
      dataDir: paths.store,
      logFile: paths.log,
    }
  },
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
