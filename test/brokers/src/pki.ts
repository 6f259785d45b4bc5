/**
 * The tests' throwaway PKI, made with Debian's `openssl` into `<state>/pki` on first use and reused
 * afterwards (never committed): a CA, a server certificate for 127.0.0.1/localhost, a client
 * certificate, and what the failure tests need — a second, unrelated CA with a client certificate of
 * its own, an expired client certificate from the right CA, and a server certificate whose names do
 * not match 127.0.0.1. Certificates last 10 years (the expired one ended in 2020).
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { BrokerError } from './broker.js'
import { brokersSettings } from './env.js'
import { findCommand, run } from './proc.js'

/** Paths of the test PKI's files (PEM). */
export interface TestPki {
  readonly dir: string
  readonly caCert: string
  readonly serverCert: string
  readonly serverKey: string
  readonly clientCert: string
  readonly clientKey: string
  /** A CA the servers do not trust, and a client certificate it signed. */
  readonly otherCaCert: string
  readonly otherClientCert: string
  readonly otherClientKey: string
  /** Signed by the right CA, valid 2020-01-01 to 2020-01-02 only. */
  readonly expiredClientCert: string
  readonly expiredClientKey: string
  /** Signed by the right CA for `wrong.example` only (not 127.0.0.1 or localhost). */
  readonly wrongHostServerCert: string
  readonly wrongHostServerKey: string
}

const files = (dir: string): TestPki => ({
  dir,
  caCert: join(dir, 'ca.crt'),
  serverCert: join(dir, 'server.crt'),
  serverKey: join(dir, 'server.key'),
  clientCert: join(dir, 'client.crt'),
  clientKey: join(dir, 'client.key'),
  otherCaCert: join(dir, 'other-ca.crt'),
  otherClientCert: join(dir, 'other-client.crt'),
  otherClientKey: join(dir, 'other-client.key'),
  expiredClientCert: join(dir, 'expired-client.crt'),
  expiredClientKey: join(dir, 'expired-client.key'),
  wrongHostServerCert: join(dir, 'wrong-host.crt'),
  wrongHostServerKey: join(dir, 'wrong-host.key'),
})

const fail = (message: string): BrokerError => new BrokerError('all', `test PKI: ${message}`)

/** Where the test PKI's files are (made or not: `ensurePki` makes them). */
export const testPkiFiles = (): TestPki => files(join(brokersSettings.dir, 'pki'))

/** Client TLS options of the test PKI (its CA, the client certificate and key), as Node's `tls` takes them. */
export const testClientTls = (): { ca: Buffer; cert: Buffer; key: Buffer } => {
  const pki = testPkiFiles()
  return { ca: readPem(pki.caCert), cert: readPem(pki.clientCert), key: readPem(pki.clientKey) }
}

/** Every PEM of the test PKI a TLS failure test needs (the shape of `@switchyard/contract`'s `TlsMaterial`). */
export const testTlsMaterial = () => {
  const pki = testPkiFiles()
  return {
    ...testClientTls(),
    otherCa: readPem(pki.otherCaCert),
    otherCert: readPem(pki.otherClientCert),
    otherKey: readPem(pki.otherClientKey),
    expiredCert: readPem(pki.expiredClientCert),
    expiredKey: readPem(pki.expiredClientKey),
  }
}

/** Reads a PEM file of the PKI as a Buffer (what etcd3's and Node's TLS options take). */
export const readPem = (path: string): Buffer => readFileSync(path)

/** The test PKI, made on first call (about 1 s) and reused afterwards. */
export async function ensurePki(): Promise<TestPki> {
  const pki = testPkiFiles()
  const dir = pki.dir
  if (existsSync(join(dir, '.complete'))) return pki
  const openssl = findCommand('openssl')
  if (openssl === undefined) throw fail('openssl is missing: apt-get install openssl')
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(join(dir, 'ca-db'), { recursive: true })
  const ssl = async (args: string[]): Promise<void> => {
    const result = await run(openssl, args, { timeoutMs: 60_000, cwd: dir })
    if (result.code !== 0) throw fail(`openssl ${args[0]} failed: ${(result.stderr || result.stdout).trim()}`)
  }
  const ext = (name: string, lines: string[]): string => {
    const path = join(dir, `${name}.ext`)
    writeFileSync(path, `${lines.join('\n')}\n`)
    return path
  }
  const serverExt = ext('server', [
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
    'extendedKeyUsage=serverAuth',
  ])
  const clientExt = ext('client', ['extendedKeyUsage=clientAuth'])
  const wrongHostExt = ext('wrong-host', ['subjectAltName=DNS:wrong.example', 'extendedKeyUsage=serverAuth'])
  const ca = async (name: string, subject: string): Promise<void> =>
    ssl([
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.crt`,
      '-days',
      '3650',
      '-subj',
      subject,
    ])
  const signed = async (name: string, subject: string, by: string, extFile: string): Promise<void> => {
    await ssl([
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      subject,
    ])
    await ssl(
      [
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        `${by}.crt`,
        '-CAkey',
        `${by}.key`,
        '-CAcreateserial',
      ].concat(['-out', `${name}.crt`, '-days', '3650', '-extfile', extFile]),
    )
  }
  await ca('ca', '/CN=Switchyard Test CA')
  await ca('other-ca', '/CN=Switchyard Untrusted CA')
  await signed('server', '/CN=127.0.0.1', 'ca', serverExt)
  await signed('client', '/CN=switchyard-client', 'ca', clientExt)
  await signed('other-client', '/CN=switchyard-client', 'other-ca', clientExt)
  await signed('wrong-host', '/CN=wrong.example', 'ca', wrongHostExt)
  // An expired certificate needs explicit start and end dates: `openssl ca` gives them.
  writeFileSync(join(dir, 'ca-db', 'index.txt'), '')
  writeFileSync(join(dir, 'ca-db', 'serial'), '1000\n')
  const caConfig = join(dir, 'ca.cnf')
  writeFileSync(
    caConfig,
    [
      '[ ca ]',
      'default_ca = test',
      '[ test ]',
      `dir = ${join(dir, 'ca-db')}`,
      'database = $dir/index.txt',
      'new_certs_dir = $dir',
      'serial = $dir/serial',
      'default_md = sha256',
      'policy = any',
      '[ any ]',
      'commonName = supplied',
      '',
    ].join('\n'),
  )
  await ssl([
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'expired-client.key',
    '-out',
    'expired-client.csr',
    '-subj',
    '/CN=switchyard-client',
  ])
  await ssl(
    [
      'ca',
      '-batch',
      '-config',
      caConfig,
      '-cert',
      'ca.crt',
      '-keyfile',
      'ca.key',
      '-in',
      'expired-client.csr',
    ].concat([
      '-out',
      'expired-client.crt',
      '-startdate',
      '20200101000000Z',
      '-enddate',
      '20200102000000Z',
      '-extfile',
      clientExt,
    ]),
  )
  writeFileSync(join(dir, '.complete'), `${new Date().toISOString()}\n`)
  return pki
}
