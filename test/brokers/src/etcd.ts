/**
 * The etcd test servers, from Debian's `etcd-server` (installed when missing): a plain one on
 * 127.0.0.1:2379 and one with authentication enabled (user root) on 127.0.0.1:2389, each a
 * single-member cluster with its own data folder under the state folder. Readiness is a put/get
 * round trip with the etcd3 client. Not a config store: that is packages/etcd.
 */
import { randomBytes } from 'node:crypto'
import { appendFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:https'
import { join } from 'node:path'
import { Etcd3, type IOptions } from 'etcd3'
import { type BrokerDriver, BrokerError, type BrokerStatus, type UpResult } from './broker.js'
import {
  type BrokerName,
  brokersSettings,
  etcdAuthConnection,
  etcdConnection,
  etcdTlsConnection,
} from './env.js'
import { aptInstall } from './install.js'
import { ensurePki, readPem } from './pki.js'
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

interface Instance {
  name: Extract<BrokerName, 'etcd' | 'etcd-auth' | 'etcd-tls'>
  /** TLS only, client certificates from the test CA required. */
  tls: boolean
  host: string
  port: number
  peerPort: number
  endpoints: string[]
  auth: { username: string; password: string } | undefined
}

const plain: Instance = { name: 'etcd', tls: false, ...ports(etcdConnection), auth: undefined }
const withTls: Instance = { name: 'etcd-tls', tls: true, ...ports(etcdTlsConnection), auth: undefined }
const withAuth: Instance = {
  name: 'etcd-auth',
  tls: false,
  ...ports(etcdAuthConnection),
  auth: { username: etcdAuthConnection.username, password: etcdAuthConnection.password },
}

function ports(c: { host: string; port: number; peerPort: number; endpoints: string[] }) {
  return { host: c.host, port: c.port, peerPort: c.peerPort, endpoints: c.endpoints }
}

const paths = (i: Instance) => {
  const home = join(brokersSettings.dir, i.name)
  return { home, data: join(home, 'data'), log: join(home, 'etcd.log'), pid: join(home, 'etcd.pid') }
}

const fail = (i: Instance, message: string): BrokerError => new BrokerError(i.name, message, paths(i).log)

const isEtcdCommand = (command: string): boolean => /(^|\/)etcd(\s|$)/.test(command)

const client = (i: Instance, withCredentials: boolean): Etcd3 => {
  const options: IOptions = {
    hosts: i.endpoints,
    dialTimeout: 2000,
    defaultCallOptions: () => ({ deadline: new Date(Date.now() + 3000) }),
  }
  if (withCredentials && i.auth) options.auth = { ...i.auth }
  if (i.tls) options.credentials = tlsMaterial()
  return new Etcd3(options)
}

/** The test PKI's CA and client certificate, as etcd3 takes them (`ensurePki()` ran before). */
const tlsMaterial = () => {
  const pki = pkiFiles
  if (pki === undefined) throw new Error('the test PKI is not made yet')
  return {
    rootCertificate: readPem(pki.caCert),
    certChain: readPem(pki.clientCert),
    privateKey: readPem(pki.clientKey),
  }
}
let pkiFiles: Awaited<ReturnType<typeof ensurePki>> | undefined

/** Writes, reads back and deletes a key; resolves when the value came back intact. */
const roundTrip = async (i: Instance, withCredentials = true): Promise<true> => {
  const etcd = client(i, withCredentials)
  try {
    return await within(
      5000,
      `a put/get round trip on ${i.endpoints[0]}`,
      (async () => {
        const key = `__switchyard-brokers/ready/${randomBytes(4).toString('hex')}`
        const value = randomBytes(8).toString('hex')
        await etcd.put(key).value(value)
        const read = await etcd.get(key).string()
        await etcd.delete().key(key)
        if (read !== value) throw new Error(`read back '${read}' instead of '${value}'`)
        return true as const
      })(),
    )
  } finally {
    etcd.close()
  }
}

const ignoreExisting = (error: unknown): void => {
  if (!(error instanceof Error) || !/already exists/i.test(error.message)) throw error
}

/** Creates the root user and role and enables authentication (on a server where it is still off). */
const enableAuth = async (i: Instance): Promise<void> => {
  if (!i.auth) return
  const etcd = client(i, false)
  try {
    await within(
      15_000,
      'enabling etcd authentication',
      (async () => {
        await etcd.user(i.auth!.username).create(i.auth!.password).catch(ignoreExisting)
        await etcd.role('root').create().catch(ignoreExisting)
        await etcd.user(i.auth!.username).addRole('root')
        await etcd.auth.authEnable()
      })(),
    )
  } finally {
    etcd.close()
  }
}

/** Makes sure the auth instance answers with our credentials, enabling auth the first time. */
const ensureAuth = async (i: Instance): Promise<void> => {
  if (!i.auth) return
  if (await roundTrip(i).catch(() => false)) return
  const open = await roundTrip(i, false).catch(() => false)
  if (!open) {
    throw fail(
      i,
      `authentication is on but '${i.auth.username}' cannot log in with SWITCHYARD_ETCD_AUTH_PASSWORD. ` +
        `Set the password it was created with, or delete ${paths(i).data} to start afresh.`,
    )
  }
  await enableAuth(i)
  await roundTrip(i)
}

/** The server's version from its /version endpoint (open even with auth on). */
const serverVersion = async (i: Instance): Promise<string | undefined> => {
  if (i.tls) return tlsVersion(i)
  try {
    const response = await fetch(`${i.endpoints[0]}/version`, { signal: AbortSignal.timeout(2000) })
    const body = (await response.json()) as { etcdserver?: string }
    return body.etcdserver
  } catch {
    return undefined
  }
}

/** `/version` over HTTPS with the test client certificate. */
const tlsVersion = (i: Instance): Promise<string | undefined> =>
  new Promise((resolve) => {
    if (pkiFiles === undefined) return resolve(undefined)
    const { rootCertificate, certChain, privateKey } = tlsMaterial()
    const req = request(
      `${i.endpoints[0]}/version`,
      { ca: rootCertificate, cert: certChain, key: privateKey, timeout: 2000 },
      (response) => {
        let body = ''
        response.on('data', (chunk: Buffer) => {
          body += chunk.toString()
        })
        response.on('end', () => {
          try {
            resolve((JSON.parse(body) as { etcdserver?: string }).etcdserver)
          } catch {
            resolve(undefined)
          }
        })
      },
    )
    req.on('error', () => resolve(undefined))
    req.on('timeout', () => req.destroy())
    req.end()
  })

const runningPid = (i: Instance): number | undefined => {
  const listener = listenerOn(i.port)
  if (listener?.pid !== undefined && isEtcdCommand(listener.command)) return listener.pid
  return readPid(paths(i).pid)
}

const archEnv = (): NodeJS.ProcessEnv => {
  const env = { ...process.env }
  // Debian's etcd 3.4 refuses to run on arches it does not list unless told to.
  const arch = { arm64: 'arm64', ppc64: 'ppc64le', s390x: 's390x' }[process.arch as string]
  if (arch && env.ETCD_UNSUPPORTED_ARCH === undefined) env.ETCD_UNSUPPORTED_ARCH = arch
  return env
}

const ensureInstalled = async (i: Instance): Promise<string> => {
  const found = findCommand(brokersSettings.etcdCommand)
  if (found) return found
  await aptInstall(i.name, brokersSettings.etcdCommand, ['etcd-server', 'etcd-client'], async () => {
    // Where init scripts may run, the package starts its own etcd on 2379: stop it so ours can start.
    for (const port of [plain.port, plain.peerPort]) {
      const listener = listenerOn(port)
      if (listener?.pid !== undefined && isEtcdCommand(listener.command))
        await stopProcess(listener.pid, 15_000)
    }
  })
  const installed = findCommand(brokersSettings.etcdCommand)
  if (!installed)
    throw fail(i, `${brokersSettings.etcdCommand} is still missing after installing etcd-server`)
  return installed
}

const start = async (i: Instance): Promise<number> => {
  for (const port of [i.port, i.peerPort]) {
    const listener = listenerOn(port)
    if (listener) {
      throw fail(
        i,
        `port ${port} is taken by ${describeListener(listener)}, which does not answer as etcd. ` +
          `Stop it, or move this etcd with its SWITCHYARD_ETCD_* port variables.`,
      )
    }
  }
  const etcd = await ensureInstalled(i)
  const p = paths(i)
  mkdirSync(p.data, { recursive: true })
  const member = i.name === 'etcd' ? 'switchyard' : `switchyard-${i.name.slice('etcd-'.length)}`
  const client = `${i.tls ? 'https' : 'http'}://${i.host}:${i.port}`
  const peer = `http://${i.host}:${i.peerPort}`
  const args = ['--name', member, '--data-dir', p.data]
  args.push('--listen-client-urls', client, '--advertise-client-urls', client)
  args.push('--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer)
  args.push(
    '--initial-cluster',
    `${member}=${peer}`,
    '--initial-cluster-token',
    member,
    '--initial-cluster-state',
    'new',
  )
  // One member, no followers: a short election timeout makes a (re)start elect itself in ~0.3 s, not 1-2 s.
  args.push('--heartbeat-interval', '25', '--election-timeout', '250')
  if (i.tls) {
    const pki = await ensurePki()
    args.push('--cert-file', pki.serverCert, '--key-file', pki.serverKey)
    args.push('--client-cert-auth', '--trusted-ca-file', pki.caCert)
  }
  args.push('--logger', 'zap', '--log-outputs', 'stderr')
  appendFileSync(p.log, `\n=== switchyard-brokers: starting ${i.name} at ${new Date().toISOString()}\n`)
  const pid = spawnDetached(etcd, args, { logFile: p.log, cwd: p.home, env: archEnv() })
  writeFileSync(p.pid, `${pid}\n`)
  return pid
}

const waitReady = async (i: Instance, pid: number | undefined): Promise<void> => {
  try {
    await waitFor<true | string>(
      `a put/get round trip on ${i.endpoints[0]}`,
      brokersSettings.readyTimeoutMs,
      () => {
        if (pid !== undefined && !isAlive(pid)) {
          throw new FatalWait(new Error(`the etcd process (pid ${pid}) exited:\n${tail(paths(i).log)}`))
        }
        // The auth instance is ready for setup as soon as it answers at all (auth on or off).
        return i.auth ? serverVersion(i) : roundTrip(i)
      },
    )
    await ensureAuth(i)
  } catch (error) {
    if (error instanceof BrokerError) throw error
    throw fail(i, `not ready: ${(error as Error).message}`)
  }
}

const driver = (i: Instance): BrokerDriver => ({
  name: i.name,
  logFile: () => paths(i).log,

  async up(): Promise<UpResult> {
    const began = Date.now()
    if (i.tls) pkiFiles = await ensurePki()
    const done = async (action: UpResult['action'], pid: number | undefined): Promise<UpResult> => ({
      broker: i.name,
      action,
      pid,
      version: await serverVersion(i),
      ms: Date.now() - began,
    })
    const listener = listenerOn(i.port)
    if (listener) {
      if (await roundTrip(i).catch(() => false)) return done('reused', runningPid(i))
      if (isEtcdCommand(listener.command)) {
        // An etcd that is still starting, or whose auth is not set up yet.
        await waitReady(i, listener.pid)
        return done('reused', listener.pid)
      }
    }
    const pid = await start(i)
    await waitReady(i, pid)
    return done('started', pid)
  },

  async stop(): Promise<void> {
    const pid = runningPid(i)
    if (pid === undefined) return
    if (!isEtcdCommand(commandLine(pid))) throw fail(i, `pid ${pid} is not etcd; not stopping it`)
    await stopProcess(pid, 15_000)
    rmSync(paths(i).pid, { force: true })
  },

  async status(): Promise<BrokerStatus> {
    const p = paths(i)
    const pid = runningPid(i)
    return {
      broker: i.name,
      running: pid !== undefined,
      managed: pid !== undefined && pid === readPid(p.pid),
      pid,
      version: pid === undefined ? undefined : await serverVersion(i),
      ports: { client: i.port, peer: i.peerPort },
      dataDir: p.data,
      logFile: p.log,
    }
  },
})

/** The plain etcd (no authentication) on 127.0.0.1:2379. */
export const etcdBroker: BrokerDriver = driver(plain)

/** The etcd that speaks only TLS with client certificates (test CA) on 127.0.0.1:2399. */
export const etcdTlsBroker: BrokerDriver = driver(withTls)

/** The etcd with authentication enabled (user root) on 127.0.0.1:2389. */
export const etcdAuthBroker: BrokerDriver = driver(withAuth)
