/**
 * `anyReachable`: a TCP-level liveness probe of the brokers, used for `status$`.
 *
 * kafkajs reports no connection loss of an idle client, and one of its requests can stay pending
 * through a whole broker restart, so the transport asks the operating system instead: can a TCP
 * connection to a broker port be opened? It says nothing about Kafka-level health.
 */
import { connect } from 'node:net'

/** True when any of `brokers` (`host:port`) accepts a TCP connection within `timeoutMs`. */
export async function anyReachable(brokers: readonly string[], timeoutMs: number): Promise<boolean> {
  const attempts = brokers.map(
    (broker) =>
      new Promise<boolean>((resolve) => {
        const at = broker.lastIndexOf(':')
        const socket = connect({ host: broker.slice(0, at), port: Number(broker.slice(at + 1)) })
        const done = (ok: boolean): void => {
          socket.destroy()
          resolve(ok)
        }
        socket.setTimeout(timeoutMs, () => done(false))
        socket.once('connect', () => done(true))
        socket.once('error', () => done(false))
      }),
  )
  return (await Promise.all(attempts)).some(Boolean)
}
