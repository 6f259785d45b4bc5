/**
 * Installs Debian packages (rabbitmq-server, etcd-server) when a broker's binary is missing:
 * `apt-get update` once per run, then `apt-get install`. Fails fast, saying what to run by hand,
 * when not root or when apt-get is absent. Not used for Kafka (Maven fetches its jars).
 */
import { BrokerError } from './broker.js'
import type { BrokerName } from './env.js'
import { brokersSettings } from './env.js'
import { commandExists, run } from './proc.js'

let updated = false
/** Brokers come up concurrently; dpkg takes one install at a time, so installs queue here. */
let queue: Promise<unknown> = Promise.resolve()

const aptEnv = (): NodeJS.ProcessEnv => ({ ...process.env, DEBIAN_FRONTEND: 'noninteractive' })

/**
 * Installs `packages` with apt-get, so that `command` exists afterwards (a no-op when an earlier
 * install already brought it). `afterInstall` runs right after, still ahead of any other install.
 */
export const aptInstall = (
  broker: BrokerName,
  command: string,
  packages: string[],
  afterInstall?: () => Promise<void>,
): Promise<void> => {
  const next = queue.then(async () => {
    if (commandExists(command)) return
    await install(broker, command, packages)
    await afterInstall?.()
  })
  queue = next.catch(() => {})
  return next
}

const install = async (broker: BrokerName, command: string, packages: string[]): Promise<void> => {
  const byHand = `apt-get update && apt-get install -y ${packages.join(' ')}`
  if (!commandExists('apt-get')) {
    throw new BrokerError(
      broker,
      `\`${command}\` is missing and apt-get is not available: install ${packages.join(', ')}.`,
    )
  }
  if (process.getuid?.() !== 0) {
    throw new BrokerError(
      broker,
      `\`${command}\` is missing and installing it needs root: run \`sudo ${byHand}\`.`,
    )
  }
  const timeoutMs = brokersSettings.installTimeoutMs
  if (!updated) {
    const update = await run('apt-get', ['update', '-q'], { timeoutMs, env: aptEnv() })
    if (update.code !== 0) {
      throw new BrokerError(
        broker,
        `apt-get update failed (exit ${update.code}):\n${update.stderr.trim().slice(-2000)}`,
      )
    }
    updated = true
  }
  const args = ['install', '-y', '-q', '--no-install-recommends', ...packages]
  const install = await run('apt-get', args, { timeoutMs, env: aptEnv() })
  if (install.code !== 0 || !commandExists(command)) {
    throw new BrokerError(
      broker,
      `apt-get install ${packages.join(' ')} failed (exit ${install.code}):\n${install.stderr.trim().slice(-2000)}\n` +
        `Run \`${byHand}\` by hand to see why.`,
    )
  }
}
