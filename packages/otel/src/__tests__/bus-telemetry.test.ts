/**
 * `BusTelemetry` on the memory transport: the shared telemetry suite, plus what only needs one
 * transport (semantic-convention modes, switches, publish failures, decode failures).
 */
import { context, trace } from '@opentelemetry/api'
import { Bus } from '@switchyard/core'
import { MemoryTransport } from '@switchyard/memory'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { semconvModeFrom } from '../semconv.js'
import {
  createSdk,
  pointsOf,
  type Sdk,
  spanNamed,
  total,
  useContextManager,
  waitFor,
} from './telemetry-harness.js'
import { telemetrySuite } from './telemetry-suite.js'

telemetrySuite('memory', () => new MemoryTransport(), { system: 'switchyard_memory', timeoutMs: 5_000 })

describe('semconvModeFrom', () => {
  it('reads OTEL_SEMCONV_STABILITY_OPT_IN: messaging/dup wins, anything else is current', () => {
    expect(semconvModeFrom(undefined)).toBe('current')
    expect(semconvModeFrom('http,messaging')).toBe('current')
    expect(semconvModeFrom('http, messaging/dup')).toBe('dup')
    expect(semconvModeFrom('messaging,messaging/dup')).toBe('dup')
  })
})

describe('BusTelemetry on memory', () => {
  useContextManager()
  let sdk: Sdk
  let transport: MemoryTransport
  beforeEach(() => {
    sdk = createSdk()
    transport = new MemoryTransport()
  })
  afterEach(async () => {
    await transport.close({ drain: false })
  })

  it('gives a for-await loop the process span of each delivery through contextOf', async () => {
    const telemetry = sdk.telemetry(transport)
    const bus = new Bus(transport, { ...telemetry.busOptions })
    await transport.provision('orders', { groups: ['billing'] })
    await bus.publish('orders', 1)
    const seen: { active: string | undefined; ofDelivery: string | undefined }[] = []
    for await (const d of bus.messages('orders', { group: 'billing' })) {
      // The loop body runs after the hand-out: no span is active here until it is entered.
      expect(trace.getActiveSpan()).toBeUndefined()
      const ofDelivery = trace.getSpan(telemetry.contextOf(d) ?? context.active())?.spanContext().spanId
      await context.with(telemetry.contextOf(d) ?? context.active(), async () => {
        seen.push({ active: trace.getActiveSpan()?.spanContext().spanId, ofDelivery })
        await d.ack()
      })
      break
    }
    await waitFor(() => spanNamed(sdk, 'process orders').length === 1, 'the process span')
    const process = spanNamed(sdk, 'process orders')[0]
    expect(seen).toEqual([
      { active: process?.spanContext().spanId, ofDelivery: process?.spanContext().spanId },
    ])
    expect(
      telemetry.contextOf({
        message: {} as never,
        settled: false,
        ack: async () => {},
        nack: async () => {},
      }),
    ).toBeUndefined()
    await bus.close()
  })

  it('times a stream delivery from its hand-out to the end of its settle', async () => {
    const bus = new Bus(transport, { ...sdk.telemetry(transport).busOptions })
    await transport.provision('held', { groups: ['g'] })
    await bus.publish('held', 1)
    const handedOut: { ack(): Promise<void> }[] = []
    const sub = bus.consume('held', { group: 'g' }).subscribe((d) => handedOut.push(d))
    await waitFor(() => handedOut.length === 1, 'the delivery')
    // The application holds the delivery 50 ms before it settles (what is measured, not a wait).
    await new Promise((resolve) => setTimeout(resolve, 50))
    await handedOut[0]?.ack()
    const [duration] = await pointsOf(sdk, 'messaging.process.duration', 'held')
    const histogram = duration?.value
    expect(typeof histogram === 'object' && histogram.sum).toBeGreaterThanOrEqual(0.049)
    sub.unsubscribe()
    await bus.close()
  })

  it('writes the v1.24 names beside the current ones in dup mode', async () => {
    const bus = new Bus(transport, { ...sdk.telemetry(transport, { semconv: 'dup' }).busOptions })
    const sub = bus.handle('orders', { group: 'billing' }, () => undefined)
    await sub.ready
    await bus.publish('orders', 1)
    await waitFor(() => spanNamed(sdk, 'process orders').length === 1, 'the process span')
    expect(spanNamed(sdk, 'send orders')[0]?.attributes).toMatchObject({
      'messaging.operation': 'publish',
      'messaging.operation.type': 'send',
    })
    expect(spanNamed(sdk, 'process orders')[0]?.attributes).toMatchObject({
      'messaging.operation': 'process',
      'messaging.operation.type': 'process',
    })
    await bus.close()
  })

  it('names the process span after the pattern and sets messaging.destination.template', async () => {
    const bus = new Bus(transport, { ...sdk.telemetry(transport).busOptions })
    const sub = bus.handle('orders.*', { group: 'billing' }, () => undefined)
    await sub.ready
    await bus.publish('orders.created', 1)
    await waitFor(() => spanNamed(sdk, 'process orders.*').length === 1, 'the process span')
    expect(spanNamed(sdk, 'process orders.*')[0]?.attributes).toMatchObject({
      'messaging.destination.name': 'orders.created',
      'messaging.destination.template': 'orders.*',
    })
    await bus.close()
  })

  it('records a refused publish on the send span and in sent.messages with error.type', async () => {
    const bus = new Bus(transport, { ...sdk.telemetry(transport).busOptions })
    await expect(bus.publish('big', 'x'.repeat(2_000_000))).rejects.toThrow()
    const [send] = spanNamed(sdk, 'send big')
    expect(send?.status.code).toBe(2)
    expect(send?.attributes['error.type']).toBe('MessageTooLargeError')
    const sent = await pointsOf(sdk, 'messaging.client.sent.messages', 'big')
    expect(sent.map((p) => p.attributes['error.type'])).toEqual(['MessageTooLargeError'])
    await bus.close()
  })

  it('counts decode failures (dead-lettered at once, no retry)', async () => {
    const bus = new Bus(transport, { ...sdk.telemetry(transport).busOptions })
    const sub = bus.handle('orders', { group: 'billing' }, () => undefined)
    await sub.ready
    await transport.publish([
      {
        topic: 'orders',
        id: 'raw-1',
        timestamp: Date.now(),
        payload: new TextEncoder().encode('{not json'),
        headers: { 'content-type': 'application/json' },
      },
    ])
    await waitFor(() => spanNamed(sdk, 'process orders').length === 1, 'the process span')
    expect(total(await pointsOf(sdk, 'switchyard.decode.failures', 'orders'))).toBe(1)
    expect(total(await pointsOf(sdk, 'switchyard.dead_letters', 'orders'))).toBe(1)
    expect(total(await pointsOf(sdk, 'switchyard.handler.retries', 'orders'))).toBe(0)
    expect(spanNamed(sdk, 'process orders')[0]?.attributes['error.type']).toBe('DecodeError')
    await bus.close()
  })

  it('traces: false injects nothing and makes no spans; metrics: false records nothing', async () => {
    const bus = new Bus(transport, { ...sdk.telemetry(transport, { traces: false }).busOptions })
    const headers: Record<string, string>[] = []
    const sub = bus.handle('orders', {}, (m) => {
      headers.push({ ...m.headers })
    })
    await sub.ready
    await bus.publish('orders', 1)
    await waitFor(() => headers.length === 1, 'the delivery')
    expect(headers[0]?.traceparent).toBeUndefined()
    expect(sdk.spans.getFinishedSpans()).toHaveLength(0)
    expect(total(await pointsOf(sdk, 'messaging.client.sent.messages', 'orders'))).toBe(1)
    await bus.close()

    const quiet = createSdk()
    const bus2 = new Bus(transport, { ...quiet.telemetry(transport, { metrics: false }).busOptions })
    await bus2.publish('orders', 1)
    expect(await pointsOf(quiet, 'messaging.client.sent.messages')).toEqual([])
    expect(spanNamed(quiet, 'send orders')).toHaveLength(1)
    await bus2.close()
  })

  it('reports consumer lag from the transport health as a gauge', async () => {
    const bus = new Bus(transport, { ...sdk.telemetry(transport).busOptions })
    await transport.provision('backlog', { groups: ['slow'] })
    await bus.publishBatch([1, 2, 3].map((payload) => ({ topic: 'backlog', payload })))
    const sub = bus.handle('backlog', { group: 'slow', inFlight: 1 }, () => new Promise(() => undefined))
    await sub.ready
    const lag = await pointsOf(sdk, 'switchyard.consumer.lag', 'backlog')
    expect(lag).toEqual([
      {
        attributes: {
          'messaging.system': 'switchyard_memory',
          'messaging.destination.name': 'backlog',
          'messaging.consumer.group.name': 'slow',
        },
        value: 2,
      },
    ])
    await bus.close({ timeoutMs: 10 })
  })

  it('with batchCreateSpans false makes one PRODUCER send span per batch, parent of every process span', async () => {
    const bus = new Bus(transport, { ...sdk.telemetry(transport, { batchCreateSpans: false }).busOptions })
    const sub = bus.handle('orders', { group: 'billing' }, () => undefined)
    await sub.ready
    await bus.publishBatch([1, 2].map((payload) => ({ topic: 'orders', payload })))
    await waitFor(() => spanNamed(sdk, 'process orders').length === 2, 'two process spans')
    expect(spanNamed(sdk, 'create orders')).toHaveLength(0)
    const [send] = spanNamed(sdk, 'send orders')
    expect(send?.kind).toBe(3) // PRODUCER
    expect(send?.attributes['messaging.batch.message_count']).toBe(2)
    for (const process of spanNamed(sdk, 'process orders')) {
      expect(process.parentSpanContext?.spanId).toBe(send?.spanContext().spanId)
    }
    await bus.close()
  })

  it('keeps a producer span as child of the span active around publish', async () => {
    const bus = new Bus(transport, { ...sdk.telemetry(transport).busOptions })
    const tracer = sdk.tracerProvider.getTracer('test')
    await tracer.startActiveSpan('register talent', async (span) => {
      await bus.publish('talent.registered', 1)
      span.end()
    })
    const [parent] = spanNamed(sdk, 'register talent')
    const [send] = spanNamed(sdk, 'send talent.registered')
    expect(send?.parentSpanContext?.spanId).toBe(parent?.spanContext().spanId)
    await bus.close()
  })
})
