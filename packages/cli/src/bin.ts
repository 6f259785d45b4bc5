#!/usr/bin/env node
/**
 * The `switchyard` executable: runs the command line, stops streaming commands cleanly on
 * Ctrl-C / SIGTERM (a second signal exits at once), and exits with the documented code.
 */
import { ExitCode } from './exit-codes.js'
import { run } from './program.js'

const controller = new AbortController()
let signals = 0
for (const name of ['SIGINT', 'SIGTERM'] as const) {
  process.on(name, () => {
    signals++
    if (signals > 1) process.exit(ExitCode.interrupted)
    controller.abort()
  })
}

const code = await run(process.argv.slice(2), { signal: controller.signal })
// Sockets of a closed client may linger a moment; the command is done, so leave now.
process.exit(code)
