/**
 * A pretend mail server for the demo: it "sends" instantly, but rejects addresses without `@`
 * for good and is busy on the first try for some registrations, so the notifications service
 * shows both a dead letter and a successful retry. Swap it for a real client in your code.
 */
import { injectable } from 'tsyringe'
import { failsOnce } from './talent-generator.js'

/** The address can never receive mail: retrying is pointless, so the message is dead-lettered at once. */
export class InvalidEmailError extends Error {
  override readonly name = 'InvalidEmailError'
  constructor(readonly email: string) {
    super(`"${email}" is not an email address`)
  }
}

/** The mail server is busy: worth trying again shortly. */
export class MailServerBusyError extends Error {
  override readonly name = 'MailServerBusyError'
}

@injectable()
export class Mailer {
  /** Sends `text` to `to`; `attempt` is the delivery attempt (1 = first). */
  async send(to: string, text: string, registrationId: string, attempt: number): Promise<void> {
    if (!/^[^@\s]+@[^@\s]+$/.test(to)) throw new InvalidEmailError(to)
    const n = Number(registrationId.replace(/\D/g, ''))
    if (attempt === 1 && failsOnce(n)) throw new MailServerBusyError(`mail server busy for ${to}, try again`)
    void text // a real mailer would send it here
  }
}
