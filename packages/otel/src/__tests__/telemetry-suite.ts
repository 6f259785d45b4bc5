/**
 * The telemetry suite every transport runs (memory in the unit tests, Kafka, RabbitMQ, Redis and NATS in the
 * integration tests): span names, kinds, attributes, parent/link structure, `traceparent`
 * propagation through the broker's headers, and the metrics, through a real `Bus`.
 *
 * It registers tests only; the transport comes from `create` and is never asked its kind (the
 * expected `messaging.system` is passed in).
 */
import { randomUUID } from 'node:crypto'
import { type Attributes, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api'
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base'
import { Bus, bytesCodec, type Transport } from '@switchyard/core'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { MessagingMetrics, SwitchyardTelemetry } from '../semconv.js'
import {
  createSdk,
  pointsOf,
  type Sdk,
  spanNamed,
  total,
  useContextManager,
  waitFor,
} from './telemetry-harness.js'

export interface TelemetrySuiteOptions {
  /** The `messaging.system` the transport maps to. */
  readonly system: string
  /** Longest wait for a message to arrive, in ms. */
  readonly timeoutMs: number
  /** Broker-specific attributes expected on the send and process spans of a message with `key`. */
  readonly messageAttributes?: (topic: string, key: string) => Attributes
}

const name = (prefix: string): string => `otel.${prefix}.${randomUUID().replaceAll('-', '').slice(0, 12)}`
const traceparentOf = (span: ReadableSpan): string =>
  `00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`

export function telemetrySuite(label: string, create: () => Transport, options: TelemetrySuiteOptions): void {
  describe(`telemetry on ${label}`, () => {
    useContextManager()
    let sdk: Sdk
    let transport: Transport
    const cleanups: (() => Promise<void>)[] = []

    beforeEach(() => {
      sdk = createSdk()
      transport = create()
    })
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined)
      await transport.close({ drain: false })
    })

    /** Provisions `topic` for `groups` and deletes it after the test. */
    const provision = async (topic: string, groups: string[]): Promise<void> => {
      await transport.provision(topic, { groups })
      cleanups.push(() => transport.deprovision(topic))
    }
    const busWith = (telemetryOptions = {}): Bus => {
      const bus = new Bus(transport, { ...sdk.telemetry(transport, telemetryOptions).busOptions })
      cleanups.push(() => bus.close({ drain: false }))
      return bus
    }

    it('makes a send PRODUCER span per publish and a process CONSUMER span, its child, from the traceparent header', async () => {
      const topic = name('roundtrip')
      const group = name('g')
      await provision(topic, [group])
      const bus = busWith()
      const seen: { traceparent: string | undefined; active: string | undefined }[] = []
      const sub = bus.handle(topic, { group }, (_m, { delivery }) => {
        seen.push({
          traceparent: delivery.message.headers.traceparent,
          active: trace.getActiveSpan()?.spanContext().spanId,
        })
      })
      await sub.ready
      await bus.publish(topic, { hello: 'world' }, { key: 'k-1', id: 'id-1' })
      await waitFor(
        () => spanNamed(sdk, `process ${topic}`).length === 1,
        'the process span',
        options.timeoutMs,
      )

      const [send] = spanNamed(sdk, `send ${topic}`)
      const [process] = spanNamed(sdk, `process ${topic}`)
      if (send === undefined || process === undefined) throw new Error('spans missing')
      expect(send.kind).toBe(SpanKind.PRODUCER)
      expect(send.attributes).toMatchObject({
        'messaging.system': options.system,
        'messaging.destination.name': topic,
        'messaging.operation.type': 'send',
        'messaging.operation.name': 'send',
        'messaging.message.id': 'id-1',
        'messaging.message.body.size': 17,
      })
      expect(process.kind).toBe(SpanKind.CONSUMER)
      expect(process.attributes).toMatchObject({
        'messaging.system': options.system,
        'messaging.destination.name': topic,
        'messaging.operation.type': 'process',
        'messaging.operation.name': 'process',
        'messaging.consumer.group.name': group,
        'messaging.message.id': 'id-1',
        [SwitchyardTelemetry.attempt]: 1,
        [SwitchyardTelemetry.outcome]: 'ack',
      })
      const specific = options.messageAttributes?.(topic, 'k-1') ?? {}
      expect(send.attributes).toMatchObject(specific)
      expect(process.attributes).toMatchObject(specific)
      expect(process.status.code).toBe(SpanStatusCode.UNSET)
      // One trace: the process span is the send span's child and links to it.
      expect(process.spanContext().traceId).toBe(send.spanContext().traceId)
      expect(process.parentSpanContext?.spanId).toBe(send.spanContext().spanId)
      expect(process.links.map((l) => l.context.spanId)).toEqual([send.spanContext().spanId])
      // The header crossed the broker, and the handler runs inside the process span.
      expect(seen).toEqual([{ traceparent: traceparentOf(send), active: process.spanContext().spanId }])
    })

    it('gives each message of a batch its own create span, linked from one send span', async () => {
      const topic = name('batch')
      const group = name('g')
      await provision(topic, [group])
      const bus = busWith()
      const handled: string[] = []
      const sub = bus.handle(topic, { group }, (m) => {
        handled.push(m.id)
      })
      await sub.ready
      await bus.publishBatch([1, 2, 3].map((n) => ({ topic, payload: n, id: `m-${n}` })))
      await waitFor(
        () => spanNamed(sdk, `process ${topic}`).length === 3,
        'three process spans',
        options.timeoutMs,
      )

      const sends = spanNamed(sdk, `send ${topic}`)
      const creates = spanNamed(sdk, `create ${topic}`)
      expect(sends).toHaveLength(1)
      const send = sends[0] as ReadableSpan
      expect(send.kind).toBe(SpanKind.CLIENT)
      expect(send.attributes).toMatchObject({
        'messaging.batch.message_count': 3,
        'messaging.operation.type': 'send',
      })
      expect(creates.map((c) => c.attributes['messaging.message.id']).sort()).toEqual(['m-1', 'm-2', 'm-3'])
      expect(creates.every((c) => c.kind === SpanKind.PRODUCER)).toBe(true)
      expect(send.links.map((l) => l.context.spanId).sort()).toEqual(
        creates.map((c) => c.spanContext().spanId).sort(),
      )
      for (const process of spanNamed(sdk, `process ${topic}`)) {
        const create = creates.find(
          (c) => c.attributes['messaging.message.id'] === process.attributes['messaging.message.id'],
        )
        expect(process.parentSpanContext?.spanId).toBe(create?.spanContext().spanId)
      }
    })

    it('records failed attempts, the retry and the dead letter, and keeps the dead letter in the trace', async () => {
      const topic = name('fail')
      const group = name('g')
      const auditGroup = name('audit')
      await provision(topic, [group])
      await provision(`${topic}.dlq`, [auditGroup])
      const bus = busWith()
      const audited: string[] = []
      const failing = bus.handle(topic, { group, retry: { attempts: 2, initialDelayMs: 10 } }, () => {
        throw new TypeError('refused')
      })
      const audit = bus.handle(`${topic}.dlq`, { group: auditGroup }, (m) => {
        audited.push(m.id)
      })
      await Promise.all([failing.ready, audit.ready])
      await bus.publish(topic, 'x', { id: 'bad-1' })
      // The dead-letter send span ends on the broker's confirm, which may come after the copy was
      // delivered (RabbitMQ): wait for both.
      await waitFor(
        () =>
          spanNamed(sdk, `process ${topic}.dlq`).length === 1 &&
          spanNamed(sdk, `send ${topic}.dlq`).length === 1,
        'the audit process span and the dead-letter send span',
        options.timeoutMs,
      )

      const [send] = spanNamed(sdk, `send ${topic}`)
      const attempts = spanNamed(sdk, `process ${topic}`).sort(
        (a, b) =>
          Number(a.attributes[SwitchyardTelemetry.attempt]) -
          Number(b.attributes[SwitchyardTelemetry.attempt]),
      )
      const [dlqSend] = spanNamed(sdk, `send ${topic}.dlq`)
      const [auditSpan] = spanNamed(sdk, `process ${topic}.dlq`)
      if (send === undefined || dlqSend === undefined || auditSpan === undefined)
        throw new Error('spans missing')
      expect(attempts.map((s) => s.attributes[SwitchyardTelemetry.outcome])).toEqual(['retry', 'dead-letter'])
      for (const attempt of attempts) {
        expect(attempt.status.code).toBe(SpanStatusCode.ERROR)
        expect(attempt.attributes['error.type']).toBe('TypeError')
        expect(
          attempt.events.some(
            (e) => e.name === 'exception' && e.attributes?.['exception.message'] === 'refused',
          ),
        ).toBe(true)
        expect(attempt.parentSpanContext?.spanId).toBe(send.spanContext().spanId)
      }
      expect(attempts[0]?.events.map((e) => e.name)).toContain(SwitchyardTelemetry.retryEvent)
      const deadLetter = attempts[1]?.events.find((e) => e.name === SwitchyardTelemetry.deadLetterEvent)
      expect(deadLetter?.attributes?.[SwitchyardTelemetry.deadLetterTopic]).toBe(`${topic}.dlq`)
      // The dead-letter copy's send span continues the original trace and links to its creation
      // context; the audit handler is the child of that send span.
      const traceId = send.spanContext().traceId
      expect(dlqSend.spanContext().traceId).toBe(traceId)
      expect(dlqSend.links.map((l) => l.context.spanId)).toEqual([send.spanContext().spanId])
      expect(auditSpan.spanContext().traceId).toBe(traceId)
      expect(auditSpan.parentSpanContext?.spanId).toBe(dlqSend.spanContext().spanId)
      expect(audited).toEqual(['bad-1'])
    })

    it('counts sent, consumed, retried and dead-lettered messages with the same attributes', async () => {
      const topic = name('metrics')
      const group = name('g')
      await provision(topic, [group])
      await provision(`${topic}.dlq`, [])
      const bus = busWith()
      let handled = 0
      const sub = bus.handle<{ fail: boolean }>(
        topic,
        { group, retry: { attempts: 2, initialDelayMs: 10 } },
        (m) => {
          if (m.payload.fail) throw new RangeError('no')
          handled++
        },
      )
      await sub.ready
      await bus.publishBatch([
        { topic, payload: { fail: false } },
        { topic, payload: { fail: false } },
      ])
      await bus.publish(topic, { fail: true })
      await waitFor(
        () => handled === 2 && spanNamed(sdk, `send ${topic}.dlq`).length === 1,
        'the handling and the dead letter',
        options.timeoutMs,
      )

      const sent = await pointsOf(sdk, MessagingMetrics.sentMessages, topic)
      expect(total(sent)).toBe(3)
      expect(sent[0]?.attributes).toEqual({
        'messaging.system': options.system,
        'messaging.destination.name': topic,
        'messaging.operation.name': 'send',
      })
      const consumed = await pointsOf(sdk, MessagingMetrics.consumedMessages, topic)
      expect(total(consumed)).toBe(4) // 2 good + 2 attempts of the bad one
      expect(consumed[0]?.attributes).toEqual({
        'messaging.system': options.system,
        'messaging.destination.name': topic,
        'messaging.operation.name': 'process',
        'messaging.consumer.group.name': group,
      })
      const durations = await pointsOf(sdk, MessagingMetrics.processDuration, topic)
      expect(total(durations)).toBe(4)
      expect(total(durations.filter((p) => p.attributes['error.type'] === 'RangeError'))).toBe(2)
      expect(total(await pointsOf(sdk, MessagingMetrics.operationDuration, topic))).toBe(2)
      expect(total(await pointsOf(sdk, SwitchyardTelemetry.retriesMetric, topic))).toBe(1)
      expect(total(await pointsOf(sdk, SwitchyardTelemetry.deadLettersMetric, topic))).toBe(1)
      expect(total(await pointsOf(sdk, SwitchyardTelemetry.inFlightMetric, topic))).toBe(0)
      expect(total(await pointsOf(sdk, MessagingMetrics.sentMessages, `${topic}.dlq`))).toBe(1)
    })

    it('gives consume streams a process span per delivery, active in the subscriber, ended by its ack or nack span', async () => {
      const topic = name('stream')
      const decoded = name('g')
      const bytes = name('g')
      const dropping = name('g')
      await provision(topic, [decoded, bytes, dropping])
      const bus = busWith()
      const active: (string | undefined)[] = []
      const settles: Promise<void>[] = []
      const onDelivery = (d: {
        message: { attempt: number }
        ack(): Promise<void>
        nack(o?: object): Promise<void>
      }) => {
        active.push(trace.getActiveSpan()?.spanContext().spanId)
        // The first attempt goes back once, the second is acknowledged.
        settles.push(d.message.attempt === 1 ? d.nack({ requeue: true }) : d.ack())
      }
      // The JSON stream decodes; the bytes stream hands out the transport's deliveries as they are.
      const streams = [
        bus.consume(topic, { group: decoded }).subscribe(onDelivery),
        bus.consume(topic, { group: bytes, codec: bytesCodec }).subscribe(onDelivery),
        // This group gives it up: the transport drops it for the group.
        bus.consume(topic, { group: dropping }).subscribe((d) => {
          active.push(trace.getActiveSpan()?.spanContext().spanId)
          settles.push(d.nack({ requeue: false }))
        }),
      ]
      cleanups.push(async () => {
        for (const s of streams) s.unsubscribe()
      })
      await bus.publish(topic, { n: 1 }, { id: 'id-stream' })
      await waitFor(
        () =>
          spanNamed(sdk, `process ${topic}`).length === 5 &&
          spanNamed(sdk, `ack ${topic}`).length === 2 &&
          spanNamed(sdk, `nack ${topic}`).length === 3,
        'five process spans, two ack and three nack spans',
        options.timeoutMs,
      )
      await Promise.all(settles)

      const [send] = spanNamed(sdk, `send ${topic}`)
      const processes = spanNamed(sdk, `process ${topic}`)
      if (send === undefined) throw new Error('send span missing')
      for (const process of processes) {
        expect(process.kind).toBe(SpanKind.CONSUMER)
        expect(process.parentSpanContext?.spanId).toBe(send.spanContext().spanId)
        expect(process.attributes).toMatchObject({
          'messaging.system': options.system,
          'messaging.destination.name': topic,
          'messaging.operation.type': 'process',
          'messaging.message.id': 'id-stream',
        })
      }
      const outcomes = processes
        .map(
          (p) =>
            `${p.attributes['messaging.consumer.group.name']}:${p.attributes[SwitchyardTelemetry.attempt]}:${p.attributes[SwitchyardTelemetry.outcome]}`,
        )
        .sort()
      expect(outcomes).toEqual(
        [
          `${decoded}:1:retry`,
          `${decoded}:2:ack`,
          `${bytes}:1:retry`,
          `${bytes}:2:ack`,
          `${dropping}:1:drop`,
        ].sort(),
      )
      // The subscriber ran inside each process span.
      expect([...active].sort()).toEqual(processes.map((p) => p.spanContext().spanId).sort())
      // Each settle has its CLIENT span inside the process span it ends.
      const settleSpans = [...spanNamed(sdk, `ack ${topic}`), ...spanNamed(sdk, `nack ${topic}`)]
      expect(settleSpans).toHaveLength(5)
      for (const settle of settleSpans) {
        const parent = processes.find((p) => p.spanContext().spanId === settle.parentSpanContext?.spanId)
        expect(settle.kind).toBe(SpanKind.CLIENT)
        expect(settle.attributes['messaging.operation.type']).toBe('settle')
        expect(settle.attributes['messaging.operation.name']).toBe(settle.name.split(' ')[0])
        expect(parent?.attributes[SwitchyardTelemetry.outcome]).toMatch(
          settle.name.startsWith('ack') ? /^ack$/ : /^(retry|drop)$/,
        )
      }
      // Neither a stream's nack nor its drop is an error.
      expect(processes.every((p) => p.status.code === SpanStatusCode.UNSET)).toBe(true)
      expect(total(await pointsOf(sdk, MessagingMetrics.consumedMessages, topic))).toBe(5)
      expect(total(await pointsOf(sdk, MessagingMetrics.processDuration, topic))).toBe(5)
      expect(total(await pointsOf(sdk, SwitchyardTelemetry.deadLettersMetric, topic))).toBe(0)
    })

    it('with processParent "link" starts a new trace per message that links to the producer', async () => {
      const topic = name('link')
      const group = name('g')
      await provision(topic, [group])
      const bus = busWith({ processParent: 'link' })
      const sub = bus.handle(topic, { group }, () => undefined)
      await sub.ready
      await bus.publish(topic, 1)
      await waitFor(
        () => spanNamed(sdk, `process ${topic}`).length === 1,
        'the process span',
        options.timeoutMs,
      )
      const [send] = spanNamed(sdk, `send ${topic}`)
      const [process] = spanNamed(sdk, `process ${topic}`)
      expect(process?.spanContext().traceId).not.toBe(send?.spanContext().traceId)
      expect(process?.parentSpanContext).toBeUndefined()
      expect(process?.links.map((l) => l.context.spanId)).toEqual([send?.spanContext().spanId])
    })
  })
}
