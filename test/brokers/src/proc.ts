/**
 * Operating-system plumbing for the broker manager: who listens on a port, is a pid alive, start a
 * detached process with its log file, stop one and wait for it, run a command with a deadline, and
 * poll a condition until a deadline. Linux only (reads /proc). Knows nothing about any broker.
 */
import { spawn } from 'node:child_process'
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { dirname } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

/** A process found listening on a TCP port. */
export interface Listener {
  pid: number | undefined
  /** The command line, arguments joined by spaces ('' when unknown). */
  command: string
}

const hexPort = (port: number): string => port.toString(16).toUpperCase().padStart(4, '0')

/** Socket inodes listening on `port` (IPv4 or IPv6, any address). */
const listeningInodes = (port: number): Set<string> => {
  const inodes = new Set<string>()
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string
    try {
      text = readFileSync(table, 'utf8')
    } catch {
      continue
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/)
      const local = cols[1]
      // st 0A = LISTEN
      if (local?.endsWith(`:${hexPort(port)}`) && cols[3] === '0A' && cols[9]) inodes.add(cols[9])
    }
  }
  return inodes
}

/** The command line of a live process, or '' when it is gone or unreadable. */
export const commandLine = (pid: number): string => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim()
  } catch {
    return ''
  }
}

/** Who listens on 127.0.0.1/any address at `port`, or undefined when the port is free. */
export const listenerOn = (port: number): Listener | undefined => {
  const inodes = listeningInodes(port)
  if (inodes.size === 0) return undefined
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    let fds: string[]
    try {
      fds = readdirSync(`/proc/${entry}/fd`)
    } catch {
      continue
    }
    for (const fd of fds) {
      let target: string
      try {
        target = readlinkSync(`/proc/${entry}/fd/${fd}`)
      } catch {
        continue
      }
      const match = /^socket:\[(\d+)\]$/.exec(target)
      if (match?.[1] && inodes.has(match[1])) {
        const pid = Number(entry)
        return { pid, command: commandLine(pid) }
      }
    }
  }
  return { pid: undefined, command: '' }
}

/** Describes a listener for an error message. */
export const describeListener = (l: Listener): string =>
  l.pid === undefined
    ? 'an unknown process'
    : `pid ${l.pid} (${l.command.slice(0, 160) || 'unknown command'})`

/** Whether a process with this pid exists (and is not a zombie). */
export const isAlive = (pid: number): boolean => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
    return state !== 'Z' && state !== 'X'
  } catch {
    return false
  }
}

/** Reads a pid file; undefined when missing, garbage or the process is gone. */
export const readPid = (file: string): number | undefined => {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim())
    return Number.isInteger(pid) && pid > 0 && isAlive(pid) ? pid : undefined
  } catch {
    return undefined
  }
}

/**
 * Polls `check` until it returns a value other than undefined, or throws once `timeoutMs` has passed
 * (the last error `check` threw, if any, is named in the message).
 */
export const waitFor = async <T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined> | T | undefined,
  intervalMs = 200,
): Promise<T> => {
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  for (;;) {
    try {
      const value = await check()
      if (value !== undefined) return value
    } catch (error) {
      if (error instanceof FatalWait) throw error.cause
      lastError = error
    }
    if (Date.now() >= deadline) {
      const why = lastError instanceof Error ? `: last error: ${lastError.message}` : ''
      throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}${why}`)
    }
    await sleep(Math.min(intervalMs, Math.max(1, deadline - Date.now())))
  }
}

/**
 * Waits until `login` succeeds (`accepted`) or fails (not `accepted`): a user just added to or removed
 * from a server takes effect a moment later. `login` connects and throws when it is refused.
 */
export const waitForLogin = (
  user: string,
  accepted: boolean,
  timeoutMs: number,
  login: () => Promise<unknown>,
): Promise<true> =>
  waitFor(`${user} to be ${accepted ? 'accepted' : 'refused'}`, timeoutMs, () =>
    login().then(
      () => (accepted ? true : undefined),
      () => (accepted ? undefined : true),
    ),
  )

/** Thrown inside a `waitFor` check to stop waiting at once (e.g. the process died). */
export class FatalWait extends Error {
  constructor(override readonly cause: Error) {
    super(cause.message)
  }
}

/** Sends SIGTERM and waits for the process to exit; SIGKILL after `graceMs`. */
export const stopProcess = async (pid: number, graceMs: number): Promise<void> => {
  if (!isAlive(pid)) return
  try {
    process.kill(pid, 'SIGTERM')
  } catch {
    return
  }
  const deadline = Date.now() + graceMs
  while (isAlive(pid) && Date.now() < deadline) await sleep(50)
  if (!isAlive(pid)) return
  try {
    process.kill(pid, 'SIGKILL')
  } catch {
    return
  }
  const killDeadline = Date.now() + 10_000
  while (isAlive(pid) && Date.now() < killDeadline) await sleep(50)
  if (isAlive(pid)) throw new Error(`pid ${pid} survived SIGKILL for 10 s`)
}

/** Starts a process in its own session, detached from ours, stdout and stderr appended to `logFile`. */
export const spawnDetached = (
  command: string,
  args: string[],
  options: { logFile: string; cwd: string; env?: NodeJS.ProcessEnv },
): number => {
  mkdirSync(dirname(options.logFile), { recursive: true })
  const fd = openSync(options.logFile, 'a')
  try {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      detached: true,
      stdio: ['ignore', fd, fd],
    })
    child.on('error', () => {}) // ENOENT is reported by the caller through commandExists/isAlive
    child.unref()
    if (child.pid === undefined) throw new Error(`could not start ${command}`)
    return child.pid
  } finally {
    closeSync(fd)
  }
}

/** What a finished command printed and how it ended. */
export interface RunResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs a command to completion, killing it (and failing) after `timeoutMs`. Never throws on exit codes. */
export const run = (
  command: string,
  args: string[],
  options: { timeoutMs: number; env?: NodeJS.ProcessEnv; cwd?: string; input?: string },
): Promise<RunResult> =>
  new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
    })
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
    })
    if (options.input !== undefined) child.stdin?.end(options.input)
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(
        new Error(`\`${command} ${args.join(' ')}\` did not finish within ${options.timeoutMs / 1000} s`),
      )
    }, options.timeoutMs)
    child.on('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.on('close', (code) => {
      clearTimeout(timer)
      resolvePromise({ code, stdout, stderr })
    })
  })

/**
 * The full path of `command` (an absolute path that exists, or a name on PATH or in the sbin
 * folders, where Debian puts rabbitmq-server), or undefined when it cannot be found.
 */
export const findCommand = (command: string): string | undefined => {
  if (command.includes('/')) return existsSync(command) ? command : undefined
  const dirs = [
    ...(process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(':'),
    '/usr/local/sbin',
    '/usr/sbin',
    '/sbin',
  ]
  return dirs
    .filter((dir) => dir !== '')
    .map((dir) => `${dir}/${command}`)
    .find((path) => existsSync(path))
}

/** Whether `command` can be found (see `findCommand`). */
export const commandExists = (command: string): boolean => findCommand(command) !== undefined

/** The last `lines` lines of a log file, for error messages ('' when unreadable). */
export const tail = (file: string, lines = 15): string => {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
  } catch {
    return ''
  }
}

/** Rejects after `ms` so that no client call (kafkajs and etcd3 retry on their own) can stretch a deadline. */
export const within = <T>(ms: number, what: string, promise: Promise<T>): Promise<T> => {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}
