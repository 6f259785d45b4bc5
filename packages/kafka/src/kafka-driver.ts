/**
 * `KafkaDriver`: Apache Kafka (kafkajs) behind the core's driver SPI.
 *
 * It maps broker primitives and nothing else. What both Kafka drivers do alike (admin work through
 * `TopicAdmin`, the broker probe, rebalance and outage events, chunked one-at-a-time publishing) is
 * {@link KafkaDriverBase}'s; this file holds the kafkajs part: one idempotent producer (acks=-1)
 * with the configured compression, and one kafkajs consumer per subscription (`KafkaConsumer`).
 * Per-key order is native (`features.keyOrder`): a partition's records are held back per key
 * because that hold-back is tied to committing offsets in contiguous order.
 */

import type { DeliverySink, OutgoingMessage } from '@switchyard/core/spi'
import { SwitchyardHeaders } from '@switchyard/core/spi'
// kafkajs is CommonJS: Node's ESM loader cannot see all of its named exports, so values come
// from the default export (types are erased and may be imported by name).
import kafkajs, { type Message as KafkaRecord, type Producer, type TopicMessages } from 'kafkajs'
import { isStaleConnection, mapKafkaError } from './errors.js'
import { KafkaConsumer } from './kafka-consumer.js'
import type { ConsumerSpec } from './kafka-consumer-base.js'
import { KafkaDriverBase } from './kafka-driver-base.js'
import type { KafkaTransportOptions, ResolvedKafkaOptions } from './options.js'

const { CompressionCodecs, CompressionTypes } = kafkajs

const compressionTypes = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
} as const

/** The driver of {@link KafkaTransport}; see the module header. */
export class KafkaDriver extends KafkaDriverBase<TopicMessages[]> {
  #producer: Producer
  /** Connection of a producer that replaced a failed one; awaited before its first send. */
  #producerReady: Promise<void> | undefined

  constructor(options: ResolvedKafkaOptions, codecs: KafkaTransportOptions['compressionCodecs']) {
    super(options, { map: mapKafkaError, retriesSend: isStaleConnection })
    for (const [name, codec] of Object.entries(codecs ?? {})) {
      const type = compressionTypes[name as keyof typeof compressionTypes]
      if (codec) (CompressionCodecs as Record<number, unknown>)[type] = codec
    }
    this.#producer = this.#newProducer()
  }

  protected connectProducer(): Promise<void> {
    return this.#producer.connect()
  }

  protected closeProducer(): Promise<void> {
    return this.#producer.disconnect().catch(() => undefined)
  }

  /** Records grouped by topic, in publish order within each. */
  protected toBatch(messages: readonly OutgoingMessage[]): TopicMessages[] {
    const byTopic = new Map<string, KafkaRecord[]>()
    for (const m of messages) {
      const record: KafkaRecord = {
        key: m.key ?? null,
        value: Buffer.from(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength),
        headers: { ...m.headers, [SwitchyardHeaders.messageId]: m.id },
        timestamp: String(m.timestamp),
      }
      const list = byTopic.get(m.topic)
      if (list) list.push(record)
      else byTopic.set(m.topic, [record])
    }
    return [...byTopic].map(([topic, records]) => ({ topic, messages: records }))
  }

  protected async sendBatch(topicMessages: TopicMessages[]): Promise<void> {
    if (this.#producerReady !== undefined) {
      // A failed connect is retried by the next replacement; until then send on a fresh one.
      await this.#producerReady
      this.#producerReady = undefined
    }
    await this.#producer.sendBatch({
      topicMessages,
      acks: -1,
      compression: compressionTypes[this.options.compression],
    })
  }

  protected replaceProducer(): void {
    const poisoned = this.#producer
    const fresh = this.#newProducer()
    this.#producer = fresh
    void poisoned.disconnect().catch(() => undefined)
    const ready = fresh.connect()
    ready.catch(() => undefined)
    this.#producerReady = ready
  }

  protected newConsumer(spec: ConsumerSpec, sink: DeliverySink): KafkaConsumer {
    return new KafkaConsumer(this.consumerHost, this.client, spec, sink)
  }

  #newProducer(): Producer {
    return this.client.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      retry: this.options.retry,
    })
  }
}
