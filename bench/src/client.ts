/**
 * `BenchClient`: the few operations every benchmark scenario needs, implemented twice per transport —
 * once through Switchyard's `Bus` and once with the raw client doing the same work with the same
 * settings — so one scenario measures both sides identically.
 *
 * This module only declares the shape; implementations live in `memory-clients.ts`,
 * `kafka-clients.ts` and `rabbitmq-clients.ts`. It measures nothing itself.
 */

/** Which side of a pair a client is. */
export type Side = 'switchyard' | 'raw'

/** A running consumer; `stop` detaches it (settled deliveries stay settled). */
export interface ConsumerHandle {
  stop(): Promise<void>
}

export interface BenchClient {
  readonly side: Side
  /**
   * Declares the topic and the group's queue (Kafka: topic with the adapter's partition count;
   * RabbitMQ: exchange, durable queue and binding) so nothing published afterwards is lost.
   */
  prepare(topic: string, group: string): Promise<void>
  /** Publishes one message and resolves when the broker confirmed it (the awaited mode). */
  publishOne(topic: string, payload: Uint8Array): Promise<void>
  /** Publishes the payloads as one batch / confirm window and resolves when all are confirmed. */
  publishBatch(topic: string, payloads: readonly Uint8Array[]): Promise<void>
  /**
   * Starts a consumer of `group` that calls `onMessage` for each message and then acknowledges it,
   * with at most `concurrency` unsettled at once. Resolves once attached to the broker.
   */
  consume(
    topic: string,
    group: string,
    concurrency: number,
    onMessage: (payload: Uint8Array) => void,
  ): Promise<ConsumerHandle>
  /** Removes what `prepare` declared (queues now; Kafka topics when the client closes). Best effort. */
  cleanup(topic: string, group: string): Promise<void>
  close(): Promise<void>
}

/** Creates the client for one side; called once per worker process. */
export type ClientFactory = (side: Side) => Promise<BenchClient>
