/**
 * The browser the console tests drive: Debian's `chromium`, installed with apt-get when missing
 * (as the broker manager installs a missing broker), launched through `playwright-core` with its
 * `executablePath` (`npx playwright install` cannot download browsers here).
 */
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { type Browser, chromium } from 'playwright-core'

export const chromiumPath = '/usr/bin/chromium'

export function ensureChromium(): void {
  if (existsSync(chromiumPath)) return
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  execFileSync('apt-get', ['update'], { stdio: 'inherit', env })
  execFileSync('apt-get', ['install', '-y', 'chromium'], { stdio: 'inherit', env })
  if (!existsSync(chromiumPath)) throw new Error('apt-get install chromium did not bring /usr/bin/chromium')
}

/** Installs Chromium if needed and launches it headless (`--no-sandbox`: tests run as root). */
export function launchChromium(): Promise<Browser> {
  ensureChromium()
  return chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] })
}
