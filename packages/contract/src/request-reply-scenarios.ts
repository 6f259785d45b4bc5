/**
 * Request–reply scenarios: `Bus.request` / `Bus.reply` on the transport under test. The pattern is
 * written once in `@switchyard/core`; these tests prove that the transport routes each reply to
 * the instance that asked (ephemeral reply subscriptions, headers carried unchanged) under
 * concurrency, and that timeouts, missing responders and failing handlers end in typed errors.
 *
 * This module registers tests only and never looks at `transport.kind`.
 */
import { type Bus, RequestHeaders, type Transport } from '@switchyard/core'
import { expect, it } from 'vitest'
import type { ContractHarness } from './contract-harness.js'
import { expectSwitchyardError } from './expect-switchyard-error.js'

interface Question {
  readonly caller: number
  readonly n: number
}

interface Answer {
  readonly caller: number
  readonly n: number
  readonly square: number
}

export function registerRequestReplyScenarios(h: ContractHarness): void {
  const busOn = (transport: Transport): Bus => h.bus(transport)

  it(
    'answers 1,000 requests from 10 callers, every reply to its own caller',
    async () => {
      const transports = await h.transports(3)
      const [responderTransport, ...callerTransports] = transports
      const topic = h.topic('rr-square')
      const group = h.group('responder')
      await responderTransport.provision(topic, { groups: [group] })
      const responder = busOn(responderTransport)
      const replyTopics = new Set<string>()
      const sub = responder.reply<Question, Answer>(topic, { group, concurrency: 32 }, (m) => {
        replyTopics.add(m.headers[RequestHeaders.replyTo] ?? '')
        return { caller: m.payload.caller, n: m.payload.n, square: m.payload.n * m.payload.n }
      })
      await sub.ready

      const callers = Array.from({ length: 10 }, (_, i) =>
        busOn(callerTransports[i % callerTransports.length] as Transport),
      )
      const perCaller = 100
      const replies = await Promise.all(
        callers.map((bus, caller) =>
          Promise.all(
            Array.from({ length: perCaller }, (_, n) =>
              bus.request<Answer>(topic, { caller, n } satisfies Question, { timeoutMs: h.ms(20_000) }),
            ),
          ),
        ),
      )

      expect(replies.flat()).toHaveLength(1_000)
      replies.forEach((answers, caller) => {
        expect(answers).toEqual(Array.from({ length: perCaller }, (_, n) => ({ caller, n, square: n * n })))
      })
      // Ten callers, ten reply addresses: each Bus instance has its own.
      expect(replyTopics.size).toBe(10)
    },
    h.testTimeout(60_000),
  )

  it(
    'rejects with TimeoutError when the responder is slower than timeoutMs, then answers the next request',
    async () => {
      const [responderTransport, callerTransport] = await h.pair()
      const topic = h.topic('rr-slow')
      const group = h.group('responder')
      await responderTransport.provision(topic, { groups: [group] })
      const responder = busOn(responderTransport)
      let slowStarted = false
      const sub = responder.reply<{ slow: boolean }, string>(topic, { group }, async (m, { signal }) => {
        if (m.payload.slow) {
          slowStarted = true
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, h.ms(1_500))
            signal.addEventListener('abort', () => {
              clearTimeout(timer)
              resolve()
            })
          })
          return 'late'
        }
        return 'fast'
      })
      await sub.ready
      const caller = busOn(callerTransport)
      // Warm the reply subscription so the short timeout below measures the responder only.
      expect(await caller.request<string>(topic, { slow: false }, { timeoutMs: h.ms(20_000) })).toBe('fast')

      const timeoutMs = h.ms(500)
      const started = Date.now()
      const error = await expectSwitchyardError(
        caller.request(topic, { slow: true }, { timeoutMs }),
        'TimeoutError',
      )
      const elapsed = Date.now() - started
      expect(slowStarted).toBe(true)
      expect(elapsed).toBeGreaterThanOrEqual(timeoutMs - h.options.clockToleranceMs)
      expect(error.context).toMatchObject({ topic })
      // The late reply is dropped; the next request gets its own answer.
      expect(await caller.request<string>(topic, { slow: false }, { timeoutMs: h.ms(20_000) })).toBe('fast')
    },
    h.testTimeout(60_000),
  )

  it(
    'a request nobody answers fails with NoResponderError or TimeoutError within its timeout',
    async () => {
      const transport = await h.transport()
      const topic = h.topic('rr-nobody')
      const caller = busOn(transport)
      const timeoutMs = h.ms(1_000)
      const started = Date.now()
      const error = await expectSwitchyardError(
        caller.request(topic, { q: 1 }, { timeoutMs }),
        'NoResponderError',
        'TimeoutError',
      )
      expect(Date.now() - started).toBeLessThan(timeoutMs + h.ms(5_000))
      expect(error.context.topic).toBe(topic)
    },
    h.testTimeout(30_000),
  )

  it(
    'a responder whose handler throws sends the error name and message back, and goes on answering',
    async () => {
      const [responderTransport, callerTransport] = await h.pair()
      const topic = h.topic('rr-fail')
      const group = h.group('responder')
      await responderTransport.provision(topic, { groups: [group] })
      const responder = busOn(responderTransport)
      let calls = 0
      const sub = responder.reply<{ id: number }, { id: number }>(topic, { group }, (m) => {
        calls++
        if (m.payload.id < 0) throw new RangeError(`id ${m.payload.id} is negative: ü`)
        return { id: m.payload.id }
      })
      await sub.ready
      const caller = busOn(callerTransport)

      const error = await expectSwitchyardError(
        caller.request(topic, { id: -1 }, { timeoutMs: h.ms(20_000) }),
        'RemoteHandlerError',
      )
      expect(error).toMatchObject({ remoteName: 'RangeError', remoteMessage: 'id -1 is negative: ü' })
      expect(await caller.request(topic, { id: 7 }, { timeoutMs: h.ms(20_000) })).toEqual({ id: 7 })
      // The failed request was answered, not retried.
      expect(calls).toBe(2)
    },
    h.testTimeout(60_000),
  )
}
