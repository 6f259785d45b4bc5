/**
 * One chat worker as its own process, for the broker runs: the transport comes from the JSON
 * transport document in `CHAT_TRANSPORT` (any kind the example knows), the config store is etcd at
 * `CHAT_ETCD` (namespace `CHAT_NAMESPACE`), topics under `CHAT_PREFIX` (default `chat`), and the users
 * in `CHAT_USERS` are connected to it (presence lease `CHAT_TTL` seconds, default 2). Prints
 * `ready` once it handles rooms and holds their presence; SIGTERM stops it gracefully.
 */
import { Bus } from '@switchyard/core'
import { transportFactoryFor } from '@switchyard/core/spi'
import { EtcdConfigStore } from '@switchyard/etcd'
import { kafkaTransport } from '@switchyard/kafka'
import { memoryTransport } from '@switchyard/memory'
import { natsTransport } from '@switchyard/nats'
import { rabbitmqTransport } from '@switchyard/rabbitmq'
import { redisTransport } from '@switchyard/redis'
import { ChatWorker } from './chat.js'

const env = (name: string): string => {
  const value = process.env[name]
  if (value === undefined || value === '') throw new Error(`${name} is not set`)
  return value
}

const name = env('CHAT_WORKER')
const document = JSON.parse(env('CHAT_TRANSPORT')) as Record<string, unknown>
const transport = transportFactoryFor(document.kind, [
  kafkaTransport,
  rabbitmqTransport,
  redisTransport,
  natsTransport,
  memoryTransport,
]).create(document as never)
const store = new EtcdConfigStore({
  endpoints: env('CHAT_ETCD').split(','),
  namespace: env('CHAT_NAMESPACE'),
})
const worker = new ChatWorker(name, new Bus(transport), store, {
  presenceTtlSeconds: Number(process.env.CHAT_TTL ?? '2'),
  ...(process.env.CHAT_PREFIX ? { topicPrefix: process.env.CHAT_PREFIX } : {}),
})
await worker.start()
for (const user of (process.env.CHAT_USERS ?? '').split(',').filter(Boolean)) await worker.connect(user)
console.log(`ready ${name} pid=${process.pid}`)

process.once('SIGTERM', () => {
  void worker
    .stop()
    .then(() => worker.bus.close())
    .then(() => transport.close())
    .then(() => store.close())
    .then(() => process.exit(0))
})
