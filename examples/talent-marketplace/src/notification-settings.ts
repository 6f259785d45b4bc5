/**
 * The live notification template, read from the config store (etcd in production, memory in the
 * demo) and followed through `section(...).value$`: an operator changes the template and the
 * next notification uses it, without a restart.
 */

import type { ConfigSection, ConfigStore } from '@switchyard/config'
import { isSwitchyardError } from '@switchyard/core'
import { CONFIG_STORE } from '@switchyard/di'
import type { Subscription } from 'rxjs'
import { inject, injectable } from 'tsyringe'
import { z } from 'zod'
import { OUTCOME_LOG, type OutcomeLog } from './outcome-log.js'
import { settingsKeys, type TalentRegistered } from './topics.js'

/** What the settings document looks like; an invalid change is reported and ignored. */
export const notificationSettingsSchema = z.object({
  /** `{name}`, `{category}` and `{version}` are replaced. */
  template: z.string().min(1).max(500),
})
export type NotificationSettingsValue = z.infer<typeof notificationSettingsSchema>

/** Used until the store has a value (and written there by the demo at start-up). */
export const defaultTemplate = 'Welcome {name}! Your {category} profile is live.'

/** Renders a template for one registration. */
export function renderTemplate(template: string, talent: TalentRegistered): string {
  return template
    .replaceAll('{name}', talent.name)
    .replaceAll('{category}', talent.category)
    .replaceAll('{version}', String(talent.version))
}

@injectable()
export class NotificationSettings {
  readonly #section: ConfigSection<NotificationSettingsValue>
  readonly #subscriptions: Subscription[] = []
  #template = defaultTemplate

  constructor(
    @inject(CONFIG_STORE) store: ConfigStore,
    @inject(OUTCOME_LOG) private readonly log: OutcomeLog,
  ) {
    this.#section = store.section(settingsKeys.notifications, notificationSettingsSchema)
    this.#subscriptions.push(
      this.#section.value$.subscribe({
        next: ({ template }) => {
          if (template === this.#template) return
          this.#template = template
          this.log.record({ type: 'template-changed', template })
        },
        error: (error: unknown) => {
          if (!isSwitchyardError(error, 'TransportClosedError'))
            console.error('notification settings:', error)
        },
      }),
      this.#section.errors$.subscribe((error) =>
        console.error(`notification settings kept: ${error.message}`),
      ),
    )
  }

  /** The template in force now. */
  get template(): string {
    return this.#template
  }

  /** Stops following the store. */
  close(): void {
    for (const s of this.#subscriptions) s.unsubscribe()
  }
}
