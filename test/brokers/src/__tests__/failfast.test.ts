/**
 * The broker manager fails fast, with a message saying what to do, when a broker cannot start: its
 * port is held by something else, or Java is missing. Runs against a throwaway TCP server and a
 * temporary state folder; touches no real broker.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import type { Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { acceptedSockets, listen, portOf } from './loopback-server.js'

const close = (server: Server): Promise<void> =>
  new Promise((resolve) => {
    server.close(() => resolve())
    for (const socket of acceptedSockets) socket.destroy()
  })

/** Imports a fresh copy of the manager that reads `env` (env.ts reads process.env when loaded). */
const managerWith = async (env: Record<string, string>) => {
  vi.resetModules()
  for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value)
  return import('../manager.js')
}

const dirs: string[] = []
const stateDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-brokers-test-'))
  dirs.push(dir)
  return dir
}

afterEach(() => {
  vi.unstubAllEnvs()
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

describe('up fails fast', () => {
  it('names the process holding the Kafka port when it is not Kafka', async () => {
    const squatter = await listen()
    const controller = await listen()
    const controllerPort = portOf(controller)
    await close(controller)
    try {
      const { up } = await managerWith({
        SWITCHYARD_BROKERS_DIR: stateDir(),
        SWITCHYARD_KAFKA_PORT: String(portOf(squatter)),
        SWITCHYARD_KAFKA_CONTROLLER_PORT: String(controllerPort),
      })
      const began = Date.now()
      await expect(up('kafka')).rejects.toThrow(
        new RegExp(`port ${portOf(squatter)} is taken by pid ${process.pid} .*does not answer as Kafka`),
      )
      expect(Date.now() - began).toBeLessThan(30_000)
    } finally {
      await close(squatter)
    }
  }, 40_000)

  it('says Java is missing instead of trying to start Kafka', async () => {
    const a = await listen()
    const b = await listen()
    const [port, controllerPort] = [portOf(a), portOf(b)]
    await Promise.all([close(a), close(b)])
    const { up } = await managerWith({
      SWITCHYARD_BROKERS_DIR: stateDir(),
      SWITCHYARD_KAFKA_PORT: String(port),
      SWITCHYARD_KAFKA_CONTROLLER_PORT: String(controllerPort),
      SWITCHYARD_JAVA: '/nonexistent/bin/java',
    })
    await expect(up('kafka')).rejects.toThrow(/Java is missing \(`\/nonexistent\/bin\/java` not found\)/)
  })

  it('refuses to reuse an etcd port held by something that is not etcd', async () => {
    const squatter = await listen()
    const peer = await listen()
    const peerPort = portOf(peer)
    await close(peer)
    try {
      const { up } = await managerWith({
        SWITCHYARD_BROKERS_DIR: stateDir(),
        SWITCHYARD_ETCD_AUTH_PORT: String(portOf(squatter)),
        SWITCHYARD_ETCD_AUTH_PEER_PORT: String(peerPort),
      })
      await expect(up('etcd-auth')).rejects.toThrow(
        /\[etcd-auth\] port \d+ is taken by pid \d+ .*not answer as etcd/,
      )
    } finally {
      await close(squatter)
    }
  }, 40_000)
})
