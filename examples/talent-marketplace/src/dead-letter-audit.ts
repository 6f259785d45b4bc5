/**
 * dead-letter audit: reads the dead-letter topic and reports each message with the reason the Bus
 * wrote in its headers (error name and message, attempts). In production this would page someone
 * or feed a dashboard; a dead letter is data to look at, never a silent loss.
 */
import { type Message, SwitchyardHeaders } from '@switchyard/core'
import { Handle } from '@switchyard/di'
import { inject, injectable } from 'tsyringe'
import { OUTCOME_LOG, type OutcomeLog } from './outcome-log.js'
import { groups, topics } from './topics.js'

@injectable()
export class DeadLetterAudit {
  /** Dead letters already reported (the DLQ is at-least-once too). */
  readonly #seen = new Set<string>()

  constructor(@inject(OUTCOME_LOG) private readonly log: OutcomeLog) {}

  @Handle(topics.talentRegisteredDlq, { group: groups.deadLetterAudit })
  onDeadLetter(message: Message<unknown>): void {
    if (this.#seen.has(message.id)) return
    this.#seen.add(message.id)
    const h = message.headers
    this.log.record({
      type: 'dead-lettered',
      registrationId: message.id,
      errorName: h[SwitchyardHeaders.errorName] ?? 'unknown',
      reason: h[SwitchyardHeaders.errorMessage] ?? 'unknown',
      attempts: Number(h[SwitchyardHeaders.attempts] ?? 0),
    })
  }
}
