/** Throwaway TCP servers on free loopback ports for the broker manager's own tests. */
import { createServer, type Server, type Socket } from 'node:net'

/** Every socket the servers accepted and that is still open. */
export const acceptedSockets = new Set<Socket>()

/** A TCP server on a free 127.0.0.1 port; it never answers, `onSocket` may act on each connection. */
export const listen = (onSocket: (socket: Socket) => void = () => {}): Promise<Server> =>
  new Promise((resolve, reject) => {
    const server = createServer((socket) => {
      acceptedSockets.add(socket)
      socket.on('error', () => {})
      socket.on('close', () => acceptedSockets.delete(socket))
      onSocket(socket)
    })
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve(server))
  })

/** The port a server listens on. */
export const portOf = (server: Server): number => {
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no TCP address')
  return address.port
}
