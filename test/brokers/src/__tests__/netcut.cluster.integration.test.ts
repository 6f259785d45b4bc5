/**
 * The network cut itself, without a broker: a child process started in a node cgroup (as cluster
 * nodes are) serves a TCP port and keeps dialling a server of this test. Cut, it reaches nobody and
 * nobody reaches it, silently (a connection made before the cut gets no reset; what was sent
 * arrives once the cut heals), while this process's other traffic is untouched. Runs in the
 * `cluster` project, inside a private network namespace (scripts/in-netns.sh), like the clusters.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { connect, type Server, type Socket } from 'node:net'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { BrokerError } from '../broker.js'
import { cutNode, healCut, inNodeCgroup, inPrivateNetns, removeNodeCgroups } from '../netcut.js'
import { acceptedSockets, listen, portOf } from './loopback-server.js'

/** A node id no cluster uses, so the cgroup is this test's own. */
const nodeId = 99
/** Whether a TCP connection to `port` is accepted within `ms`. */
const reachable = (port: number, ms: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    const done = (ok: boolean): void => {
      clearTimeout(timer)
      socket.destroy()
      resolve(ok)
    }
    const timer = setTimeout(() => done(false), ms)
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })

/** The child: an echo server on a free port (printed), dialling `dialPort` every 100 ms. */
const childScript = `
const net = require('node:net')
const dialPort = Number(process.argv[1])
const server = net.createServer((s) => { s.on('error', () => {}); s.pipe(s) })
server.listen(0, '127.0.0.1', () => console.log(server.address().port))
setInterval(() => {
  const s = net.connect({ host: '127.0.0.1', port: dialPort })
  s.on('error', () => {})
  setTimeout(() => s.destroy(), 1000)
}, 100)
`

describe('network cut of one node (nftables in a private namespace)', () => {
  let child: ChildProcess
  let childPort: number
  let dialled = 0
  let dialServer: Server
  let other: Server

  beforeAll(async () => {
    expect(inPrivateNetns()).toBe(true)
    dialServer = await listen(() => {
      dialled++
    })
    other = await listen(() => {})
    const node = inNodeCgroup('kafka-cluster', nodeId, process.execPath, [
      '-e',
      childScript,
      String(portOf(dialServer)),
    ])
    child = spawn(node.command, node.args, { stdio: ['ignore', 'pipe', 'inherit'] })
    const [line] = (await once(child.stdout as NodeJS.ReadableStream, 'data')) as [Buffer]
    childPort = Number(line.toString().trim())
  }, 30_000)

  afterAll(async () => {
    await healCut('kafka-cluster')
    child?.kill('SIGKILL')
    if (child && child.exitCode === null && child.signalCode === null) await once(child, 'exit')
    for (const socket of acceptedSockets) socket.destroy()
    dialServer?.close()
    other?.close()
    removeNodeCgroups('kafka-cluster', [nodeId])
  }, 30_000)

  it('isolates the node both ways, silently, and heals', async () => {
    // Before: both directions work.
    expect(await reachable(childPort, 5000)).toBe(true)
    await vi.waitFor(() => expect(dialled).toBeGreaterThan(0), { timeout: 10_000 })
    const before = new Promise<Socket>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port: childPort }, () => resolve(s))
      s.once('error', reject)
    })
    const held = await before
    let echoed = ''
    let reset = false
    held.on('data', (data) => {
      echoed += data.toString()
    })
    held.on('error', () => {
      reset = true
    })
    held.write('a')
    await vi.waitFor(() => expect(echoed).toBe('a'), { timeout: 10_000 })

    await cutNode('kafka-cluster', nodeId, [childPort])
    const dialledAtCut = dialled
    held.write('b')
    // Cut: no new connection to it, none from it (it dials every 100 ms), no echo, no reset.
    expect(await reachable(childPort, 2000)).toBe(false)
    // Over those 2 s the child dialled ~20 times; a dial begun just before the cut may land, no more.
    const settled = dialled
    expect(settled - dialledAtCut).toBeLessThanOrEqual(1)
    expect(await reachable(portOf(other), 5000)).toBe(true)
    expect(echoed).toBe('a')
    expect(reset).toBe(false)

    await healCut('kafka-cluster')
    // Healed: the byte sent during the cut arrives (TCP retransmits), new connections work again.
    await vi.waitFor(() => expect(echoed).toBe('ab'), { timeout: 30_000, interval: 200 })
    expect(await reachable(childPort, 5000)).toBe(true)
    await vi.waitFor(() => expect(dialled).toBeGreaterThan(settled), { timeout: 10_000 })
    held.destroy()
  }, 90_000)

  it('refuses a node that does not run in its own cgroup', async () => {
    await expect(cutNode('kafka-cluster', 98, [1])).rejects.toBeInstanceOf(BrokerError)
    await expect(cutNode('kafka-cluster', 98, [1])).rejects.toThrow(/own cgroup/)
  })
})
