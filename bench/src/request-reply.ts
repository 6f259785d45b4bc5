/**
 * Request–reply latency: `Bus.request` → `Bus.reply` → reply, round trip, on each transport named on
 * the command line (default: memory). One responder group and one caller Bus, on two transports of
 * the same broker; a warm-up, then requests one at a time (p50/p99/p99.9/max of the round trip) and
 * with 16 in flight (the same, plus requests per second).
 *
 * `node bench/dist/request-reply.js memory rabbitmq kafka redis nats` (brokers under the brokers
 * lock, as every broker command). Switchyard only: no raw-client comparison yet. Not part of the
 * tests.
 */
import { performance } from 'node:perf_hooks'
import { kafkaConnection, natsConnection, rabbitmqConnection, redisConnection } from '@switchyard/brokers'
import { Bus, bytesCodec, type Transport } from '@switchyard/core'
import { KafkaTransport } from '@switchyard/kafka'
import { MemoryTransport } from '@switchyard/memory'
import { NatsTransport } from '@switchyard/nats'
import { RabbitMqTransport } from '@switchyard/rabbitmq'
import { RedisTransport } from '@switchyard/redis'
import { type LatencySummary, latencyHistogram, summarise } from './latency.js'

const makers: Record<string, () => Transport> = {
  memory: () => new MemoryTransport(),
  rabbitmq: () => new RabbitMqTransport({ url: rabbitmqConnection.url }),
  kafka: () => new KafkaTransport({ brokers: kafkaConnection.brokers, clientId: 'bench-request-reply' }),
  redis: () => new RedisTransport({ url: redisConnection.url, prefix: 'bench-rr:' }),
  nats: () => new NatsTransport({ servers: natsConnection.servers, name: 'bench-request-reply' }),
}

const warmup = 200
const sequential = 2_000
const concurrent = 5_000
const window = 16
const maxMs = 30_000

async function measure(
  caller: Bus,
  topic: string,
  count: number,
  inFlight: number,
): Promise<LatencySummary & { perSecond: number }> {
  const histogram = latencyHistogram()
  const payload = new Uint8Array(100)
  const started = performance.now()
  let sent = 0
  const worker = async (): Promise<void> => {
    while (sent < count && performance.now() - started < maxMs) {
      sent++
      const t0 = performance.now()
      await caller.request(topic, payload, { codec: bytesCodec, replyCodec: bytesCodec, timeoutMs: 20_000 })
      histogram.recordValue(Math.max(1, Math.round((performance.now() - t0) * 1e6)))
    }
  }
  await Promise.all(Array.from({ length: inFlight }, worker))
  const elapsed = (performance.now() - started) / 1000
  return { ...summarise(histogram), perSecond: histogram.totalCount / elapsed }
}

async function run(name: string): Promise<void> {
  const make = makers[name]
  if (make === undefined) throw new Error(`unknown transport ${name}; use ${Object.keys(makers).join(', ')}`)
  const responderTransport = make()
  const callerTransport = name === 'memory' ? responderTransport : make()
  const topic = `bench.rr.${Date.now().toString(36)}`
  const group = 'bench-responder'
  const responder = new Bus(responderTransport, { codec: bytesCodec })
  const caller = new Bus(callerTransport, { codec: bytesCodec })
  try {
    await responderTransport.provision(topic, { groups: [group] })
    await responder.reply<Uint8Array, Uint8Array>(topic, { group, concurrency: window }, (m) => m.payload)
      .ready
    await measure(caller, topic, warmup, 1)
    const one = await measure(caller, topic, sequential, 1)
    const many = await measure(caller, topic, concurrent, window)
    const us = (v: number): string => `${Math.round(v).toLocaleString('en-US')} µs`
    for (const [label, r] of [
      ['1 in flight', one],
      [`${window} in flight`, many],
    ] as const) {
      console.log(
        `| ${name} | ${label} | ${r.count} | ${us(r.p50)} | ${us(r.p99)} | ${us(r.p999)} | ${us(r.max)} | ${Math.round(r.perSecond).toLocaleString('en-US')} |`,
      )
    }
  } finally {
    await caller.close({ drain: false })
    await responder.close({ drain: false })
    await responderTransport.deprovision(topic, { groups: [group] }).catch(() => {})
    await responderTransport.close({ drain: false })
    if (callerTransport !== responderTransport) await callerTransport.close({ drain: false })
  }
}

const names = process.argv.slice(2)
console.log('| transport | mode | requests | p50 | p99 | p99.9 | max | requests/s |')
console.log('| --- | --- | --- | --- | --- | --- | --- | --- |')
for (const name of names.length === 0 ? ['memory'] : names) await run(name)
