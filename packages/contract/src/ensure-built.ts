/**
 * For tests that start a package in a child process from its built `dist` (a process killed with
 * SIGKILL, a second member of a group): builds it first when a source file is newer than
 * `dist/index.js`. CI builds before testing, so there this does nothing.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

/** Runs `tsc -p <packageDir>/tsconfig.build.json` when `<packageDir>/src/*.ts` is newer than its dist. */
export function ensureBuilt(packageDir: string): void {
  const built = join(packageDir, 'dist', 'index.js')
  const newest = Math.max(
    ...readdirSync(join(packageDir, 'src'))
      .filter((f) => f.endsWith('.ts'))
      .map((f) => statSync(join(packageDir, 'src', f)).mtimeMs),
  )
  if (existsSync(built) && statSync(built).mtimeMs >= newest) return
  execFileSync('npx', ['tsc', '-p', join(packageDir, 'tsconfig.build.json')], { stdio: 'inherit' })
}
