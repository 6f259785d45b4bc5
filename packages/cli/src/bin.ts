#!/usr/bin/env node
/**
 * The `switchyard` executable: runs the command line, stops streaming commands cleanly on
 * Ctrl-C / SIGTERM (a second signal exits at once), and exits with the documented code.
 */
import { ExitCode } from './exit-codes.js'
import { run } from './program.js'

// kafkajs 2.2.4 sets a negative timeout on Node 24, which prints a `TimeoutNegativeWarning` that
// means nothing to an operator (Node treats it as 1 ms). Print every other warning as Node would.
for (const listener of process.listeners('warning')) process.off('warning', listener)
process.on('warning', (warning) => {
  if (warning.name === 'TimeoutNegativeWarning') return
  process.stderr.write(`${warning.name}: ${warning.message}\n`)
})

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
