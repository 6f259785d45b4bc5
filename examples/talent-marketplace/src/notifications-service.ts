/**
 * notifications: e-mails each talent when their registration arrives.
 *
 * - Group `notifications`: it gets every registration once, whatever other services listen.
 * - Retries: a busy mail server is retried (3 attempts, 50 ms apart); an invalid address is not
 *   retried at all. Either way, a message that cannot be handled ends in `talent.registered.dlq`
 *   with the reason in its headers (see dead-letter-audit.ts).
 * - Deduplication by message id: delivery is at-least-once and producers may re-send, so the
 *   handler runs under the `dedupe` middleware: one e-mail per registration id within an hour.
 *   A failed attempt releases its claim, so a retry still sends. The store comes from the app
 *   (dedup-store.ts: Redis on Redis, else this process's memory), which is why this handler is
 *   subscribed in `onStart` with `bus.handle` rather than with the `@Handle` decorator, whose
 *   options are fixed when the class is defined.
 * - The template is a live setting (notification-settings.ts).
 */
import {
  type Bus,
  type DedupStore,
  dedupe,
  type HandlerSubscription,
  type Message,
  type Middleware,
} from '@switchyard/core'
import { BUS, type OnStart, type OnStop } from '@switchyard/di'
import { inject, injectable } from 'tsyringe'
import { DEDUP_STORE } from './dedup-store.js'
import { Mailer } from './mailer.js'
import { NotificationSettings, renderTemplate } from './notification-settings.js'
import { OUTCOME_LOG, type OutcomeLog } from './outcome-log.js'
import { groups, type TalentRegistered, topics } from './topics.js'

/** How long a registration id is remembered once notified. */
const dedupWindowMs = 3_600_000

@injectable()
export class NotificationsService implements OnStart, OnStop {
  #subscription: HandlerSubscription | undefined

  constructor(
    // Explicit tokens: a linter that turns these imports into `import type` would erase the
    // decorator metadata that injection by type relies on.
    @inject(BUS) private readonly bus: Bus,
    @inject(DEDUP_STORE) private readonly dedupStore: DedupStore,
    @inject(NotificationSettings) private readonly settings: NotificationSettings,
    @inject(Mailer) private readonly mailer: Mailer,
    @inject(OUTCOME_LOG) private readonly log: OutcomeLog,
  ) {}

  /** The running handler (after start), for introspection and logs. */
  get subscription(): HandlerSubscription | undefined {
    return this.#subscription
  }

  async onStart(): Promise<void> {
    // Outermost: sees dedupe's `drop` of a copy already notified, to report it.
    const reportCopies: Middleware = (next) => async (ctx) => {
      const outcome = await next(ctx)
      if (outcome.kind === 'drop') this.log.record({ type: 'duplicate-skipped', registrationId: ctx.raw.id })
      return outcome
    }
    this.#subscription = this.bus.handle<TalentRegistered>(
      topics.talentRegistered,
      {
        group: groups.notifications,
        concurrency: 8, // messages of one talent (same key) still run one at a time
        retry: {
          attempts: 3,
          backoff: 'fixed',
          initialDelayMs: 50,
          retryable: (error) => error.name !== 'InvalidEmailError',
        },
        middleware: [reportCopies, dedupe({ store: this.dedupStore, windowMs: dedupWindowMs })],
      },
      (message) => this.onTalentRegistered(message),
    )
    await this.#subscription.ready
  }

  async onTalentRegistered(message: Message<TalentRegistered>): Promise<void> {
    const talent = message.payload
    const text = renderTemplate(this.settings.template, talent)
    await this.mailer.send(talent.email, text, message.id, message.attempt) // throws → retry / dead letter
    this.log.record({
      type: 'notification-sent',
      registrationId: message.id,
      talentId: talent.talentId,
      text,
      attempt: message.attempt,
    })
  }

  async onStop(): Promise<void> {
    await this.#subscription?.stop() // the e-mail in progress is sent and settled first
    this.settings.close()
  }
}
