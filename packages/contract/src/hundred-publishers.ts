/**
 * The load of the fault scenarios (broker restart, cluster faults): 100 publishers (keys `p0` …
 * `p99`), each with 10 batches of 10 messages, 10,000 in all.
 */
import type { OutgoingMessage } from '@switchyard/core'
import { createMessage } from './create-message.js'

/** The 10,000 messages and how to publish a slice of them. */
export interface HundredPublishers {
  /** Every message, publisher by publisher. */
  readonly messages: readonly OutgoingMessage[]
  /**
   * Every publisher publishes its batches `from` … `to - 1` in turn, all publishers at once,
   * waiting `pauseMs` before each batch (0: none).
   */
  run(from: number, to: number, pauseMs: number): Promise<void>
}

/** Builds the 10,000 messages for `topic`, published through `publish`. */
export function hundredPublishers(
  topic: string,
  publish: (batch: readonly OutgoingMessage[]) => Promise<void>,
): HundredPublishers {
  const publishers = Array.from({ length: 100 }, (_, p) =>
    Array.from({ length: 10 }, (_, b) =>
      Array.from({ length: 10 }, (_, i) => createMessage(topic, { key: `p${p}`, payload: `${p}:${b}:${i}` })),
    ),
  )
  const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
  return {
    messages: publishers.flat(2),
    run: async (from, to, pauseMs) => {
      await Promise.all(
        publishers.map(async (batches) => {
          for (const batch of batches.slice(from, to)) {
            if (pauseMs > 0) await pause(pauseMs)
            await publish(batch)
          }
        }),
      )
    },
  }
}
