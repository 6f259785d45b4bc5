/**
 * notifications: e-mails each talent when their registration arrives.
 *
 * - Group `notifications`: it gets every registration once, whatever other services listen.
 * - Retries: a busy mail server is retried (3 attempts, 50 ms apart); an invalid address is not
 *   retried at all. Either way, a message that cannot be handled ends in `talent.registered.dlq`
 *   with the reason in its headers (see dead-letter-audit.ts).
 * - Deduplication by message id: delivery is at-least-once and producers may re-send, so the
 *   service remembers what it sent (in memory here; use a table or Redis in production).
 * - The template is a live setting (notification-settings.ts).
 */
import type { Message } from '@switchyard/core'
import { Handle, type OnStop } from '@switchyard/di'
import { inject, injectable } from 'tsyringe'
import { Mailer } from './mailer.js'
import { NotificationSettings, renderTemplate } from './notification-settings.js'
import { OUTCOME_LOG, type OutcomeLog } from './outcome-log.js'
import { groups, type TalentRegistered, topics } from './topics.js'

@injectable()
export class NotificationsService implements OnStop {
  /** Ids of registrations already notified. */
  readonly #sent = new Set<string>()

  constructor(
    // Explicit tokens: a linter that turns these imports into `import type` would erase the
    // decorator metadata that injection by type relies on.
    @inject(NotificationSettings) private readonly settings: NotificationSettings,
    @inject(Mailer) private readonly mailer: Mailer,
    @inject(OUTCOME_LOG) private readonly log: OutcomeLog,
  ) {}

  @Handle(topics.talentRegistered, {
    group: groups.notifications,
    concurrency: 8, // messages of one talent (same key) still run one at a time
    retry: {
      attempts: 3,
      backoff: 'fixed',
      initialDelayMs: 50,
      retryable: (error) => error.name !== 'InvalidEmailError',
    },
  })
  async onTalentRegistered(message: Message<TalentRegistered>): Promise<void> {
    if (this.#sent.has(message.id)) {
      this.log.record({ type: 'duplicate-skipped', registrationId: message.id })
      return
    }
    const talent = message.payload
    const text = renderTemplate(this.settings.template, talent)
    await this.mailer.send(talent.email, text, message.id, message.attempt) // throws → retry / dead letter
    this.#sent.add(message.id)
    this.log.record({
      type: 'notification-sent',
      registrationId: message.id,
      talentId: talent.talentId,
      text,
      attempt: message.attempt,
    })
  }

  onStop(): void {
    this.settings.close()
  }
}
