/**
 * Exit codes of the `switchyard` command, and the one function that maps an error onto one.
 *
 * Scripts branch on these, so they are part of the public interface (documented in the README);
 * typed Switchyard errors are mapped by `name`, never by message text.
 */
import { isSwitchyardError } from '@switchyard/core'

/** Every exit code `switchyard` uses. */
export const ExitCode = {
  /** Done. */
  ok: 0,
  /** Bad command line: unknown command or option, missing argument (commander's own errors). */
  usage: 1,
  /** Bad input or nothing there: invalid topic, payload or configuration, unknown config key. */
  badInput: 2,
  /** The broker or etcd cannot be reached (or refused the credentials). */
  unreachable: 3,
  /** The transport cannot do what was asked (e.g. `--from-beginning` without replay). */
  unsupported: 4,
  /** A compare-and-swap lost: the config key changed meanwhile. Read it again and retry. */
  conflict: 5,
  /** The broker refused or failed the operation (publish not confirmed, timeout). Retrying may help. */
  failed: 6,
  /** Interrupted by SIGINT / SIGTERM before finishing. */
  interrupted: 130,
} as const

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode]

/** A failure the CLI itself detects (bad file, unknown key), with its exit code and what to do. */
export class CliError extends Error {
  override readonly name = 'CliError' as const
  readonly exitCode: ExitCodeValue

  constructor(message: string, exitCode: ExitCodeValue = ExitCode.badInput, options?: ErrorOptions) {
    super(message, options)
    this.exitCode = exitCode
  }
}

const byName: Readonly<Record<string, ExitCodeValue>> = {
  ConfigError: ExitCode.badInput,
  InvalidTopicError: ExitCode.badInput,
  UnknownTopicError: ExitCode.badInput,
  MessageTooLargeError: ExitCode.badInput,
  EncodeError: ExitCode.badInput,
  DecodeError: ExitCode.badInput,
  SecretKeyError: ExitCode.badInput,
  BrokerUnavailableError: ExitCode.unreachable,
  AuthenticationError: ExitCode.unreachable,
  TlsError: ExitCode.unreachable,
  CapabilityError: ExitCode.unsupported,
  RevisionConflictError: ExitCode.conflict,
  PublishError: ExitCode.failed,
  BackpressureError: ExitCode.failed,
  TimeoutError: ExitCode.failed,
  TransportClosedError: ExitCode.failed,
  CancelledError: ExitCode.interrupted,
}

/** The exit code for `error`: a `CliError`'s own, a typed Switchyard error's by name, else `failed`. */
export function exitCodeOf(error: unknown): ExitCodeValue {
  if (error instanceof CliError) return error.exitCode
  if (isSwitchyardError(error)) return byName[error.name] ?? ExitCode.failed
  return ExitCode.failed
}
