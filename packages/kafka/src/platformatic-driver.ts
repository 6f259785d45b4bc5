/**
 * `PlatformaticDriver`: Apache Kafka through `@platformatic/kafka` behind the core's driver SPI
 * (`client: 'platformatic'`).
 *
 * It maps broker primitives and nothing else. What both Kafka drivers do alike is
 * {@link KafkaDriverBase}'s, including topic creation, the start offsets of new groups, lag and
 * deletion through the same `TopicAdmin` (on a kafkajs admin client), so both drivers provision
 * alike. This file holds the library's part: one idempotent producer (acks=-1) using the
 * Java-compatible murmur2 partitioner, so a key lands on the partition kafkajs and Java clients
 * pick, and one `@platformatic/kafka` consumer per subscription (`PlatformaticConsumer`), in the
 * classic or the KIP-848 group protocol. Header keys and values are strings on the wire (the
 * library's default serializers are Buffer-only).
 */

import type { Producer } from '@platformatic/kafka'
import type { DeliverySink, OutgoingMessage } from '@switchyard/core/spi'
import { SwitchyardHeaders } from '@switchyard/core/spi'
import type { ConsumerSpec } from './kafka-consumer-base.js'
import { KafkaDriverBase } from './kafka-driver-base.js'
import type { ResolvedKafkaOptions } from './options.js'
import type { PlatformaticKafka } from './platformatic-client.js'
import { PlatformaticConsumer } from './platformatic-consumer.js'
import { isPlatformaticOutage, mapPlatformaticError } from './platformatic-errors.js'

/** Producer of string keys and headers and Buffer values. */
type StringKeyProducer = Producer<string, Buffer, string, string>
type Record = Parameters<StringKeyProducer['send']>[0]['messages'][number]

/** The driver of `KafkaTransport` with `client: 'platformatic'`; see the module header. */
export class PlatformaticDriver extends KafkaDriverBase<Record[]> {
  readonly lib: PlatformaticKafka
  #producer: StringKeyProducer

  constructor(options: ResolvedKafkaOptions, lib: PlatformaticKafka) {
    super(options, { map: mapPlatformaticError, retriesSend: isPlatformaticOutage })
    this.lib = lib
    this.#producer = this.#newProducer()
  }

  /** Connection options shared by the producer and every consumer. */
  clientOptions(): {
    clientId: string
    bootstrapBrokers: string[]
    connectTimeout: number
    requestTimeout: number
    retries: number
    retryDelay: number
    tls?: object
    sasl?: { mechanism: 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512'; username: string; password: string }
  } {
    const o = this.options
    const sasl = o.sasl as { mechanism: string; username?: string; password?: string } | undefined
    const mechanism = { plain: 'PLAIN', 'scram-sha-256': 'SCRAM-SHA-256', 'scram-sha-512': 'SCRAM-SHA-512' }[
      sasl?.mechanism ?? ''
    ] as 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512' | undefined
    return {
      clientId: o.clientId,
      bootstrapBrokers: o.brokers,
      connectTimeout: o.connectionTimeoutMs,
      requestTimeout: o.requestTimeoutMs,
      retries: o.retry.retries ?? 10,
      retryDelay: o.retry.initialRetryTime ?? 300,
      ...(o.ssl === undefined || o.ssl === false ? {} : { tls: o.ssl === true ? {} : o.ssl }),
      ...(mechanism === undefined
        ? {}
        : { sasl: { mechanism, username: sasl?.username ?? '', password: sasl?.password ?? '' } }),
    }
  }

  override health(): Readonly<{ [key: string]: unknown }> {
    return { ...super.health(), client: 'platformatic', groupProtocol: this.options.groupProtocol }
  }

  /** A metadata request: the library connects on first use. */
  protected async connectProducer(): Promise<void> {
    await this.#producer.metadata({ topics: [] })
  }

  /** Waits for the requests in flight (closing would fail them), then closes the producer. */
  protected async closeProducer(): Promise<void> {
    await this.sent()
    await this.#producer.close().catch(() => undefined)
  }

  protected toBatch(messages: readonly OutgoingMessage[]): Record[] {
    return messages.map((m) => ({
      topic: m.topic,
      ...(m.key === undefined ? {} : { key: m.key }),
      value: Buffer.from(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength),
      headers: { ...m.headers, [SwitchyardHeaders.messageId]: m.id },
      timestamp: BigInt(m.timestamp),
    }))
  }

  protected async sendBatch(records: Record[]): Promise<void> {
    await this.#producer.send({ messages: records })
  }

  protected replaceProducer(): void {
    void this.#producer.close().catch(() => undefined)
    this.#producer = this.#newProducer()
  }

  protected newConsumer(spec: ConsumerSpec, sink: DeliverySink): PlatformaticConsumer {
    return new PlatformaticConsumer(this.consumerHost, this, spec, sink)
  }

  #newProducer(): StringKeyProducer {
    const { stringSerializer, compatibilityPartitioner, Producer: ProducerClass } = this.lib
    return new ProducerClass<string, Buffer, string, string>({
      ...this.clientOptions(),
      idempotent: true,
      acks: -1,
      autocreateTopics: false,
      compression: this.options.compression,
      partitioner: compatibilityPartitioner,
      serializers: { key: stringSerializer, headerKey: stringSerializer, headerValue: stringSerializer },
    })
  }
}
