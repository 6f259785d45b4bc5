import { execFileSync } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer as createPlainServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServer } from 'node:tls'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { speaksTls } from '../tls-probe.js'

// A throwaway self-signed certificate (Debian's openssl), made once for this file.
const dir = mkdtempSync(join(tmpdir(), 'switchyard-tls-probe-'))
const fixture = (name: string): string => readFileSync(join(dir, name), 'utf8')
beforeAll(() => {
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1'].concat([
      '-keyout',
      join(dir, 'server.key'),
      '-out',
      join(dir, 'server.crt'),
    ]),
    { stdio: 'ignore' },
  )
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const servers: Server[] = []
const sockets: Socket[] = []
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy()
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))))
})

async function listen(server: Server): Promise<number> {
  servers.push(server)
  server.on('connection', (socket: Socket) => sockets.push(socket))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return (server.address() as { port: number }).port
}

describe('speaksTls', () => {
  it('is true for a TLS server, even one that requires a client certificate', async () => {
    const port = await listen(
      createServer({
        key: fixture('server.key'),
        cert: fixture('server.crt'),
        requestCert: true,
        rejectUnauthorized: true,
      }),
    )
    expect(await speaksTls('127.0.0.1', port)).toBe(true)
  })

  it('is false for a plaintext server, a closed port and a silent one', async () => {
    const talking = await listen(createPlainServer((socket) => socket.end('AMQP\u0000\u0000\u0009\u0001')))
    expect(await speaksTls('127.0.0.1', talking)).toBe(false)
    const silent = await listen(createPlainServer(() => undefined))
    expect(await speaksTls('127.0.0.1', silent, 300)).toBe(false)
    const closed = await listen(createPlainServer())
    await new Promise((resolve) => servers.pop()?.close(resolve))
    expect(await speaksTls('127.0.0.1', closed)).toBe(false)
  })
})
