/**
 * `@switchyard/cli`: the `switchyard` command. Installing the package gives the `switchyard` bin;
 * `run(argv)` runs the same command line in-process (for wrappers and tests) and returns its exit code.
 */
export type { ExitCodeValue } from './exit-codes.js'
export { CliError, ExitCode, exitCodeOf } from './exit-codes.js'
export type { RunOptions } from './program.js'
export { buildProgram, run } from './program.js'
