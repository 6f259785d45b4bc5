/**
 * Options of `transportContract`: how a transport's test file tunes the shared suite.
 *
 * Only what differs between a process-local transport and a real broker lives here (time and the
 * power to restart the broker). What a transport can do is read from its `capabilities`, never
 * from these options.
 */

import type { Transport } from '@switchyard/core'

/** The scenario groups of the contract suite (the `describe` blocks), for `TransportContractOptions.scenarios`. */
export type ContractScenarioGroup =
  | 'delivery'
  | 'groups'
  | 'settlement'
  | 'errors'
  | 'publish batching'
  | 'capabilities'
  | 'bus policies'
  | 'lifecycle'
  | 'inspect'
  | 'request-reply'
  | 'idempotent consumers'
  | 'batch handlers'
  | 'cloudevents'
  | 'broker restart'

/** Options of {@link transportContract}. */
export interface TransportContractOptions {
  /**
   * Registers only these scenario groups (default: all). For a second run of the core scenarios
   * over another connection of the same transport (TLS, SASL), after one full run.
   *
   * @example
   * scenarios: ['delivery', 'groups', 'bus policies', 'broker restart']
   */
  readonly scenarios?: readonly ContractScenarioGroup[]
  /**
   * Restarts the broker the transports talk to and resolves once it accepts connections again.
   * When given (and the transport claims `persistent`), the broker-restart scenario is registered.
   *
   * @example
   * restartBroker: () => restart('kafka') // from @switchyard/brokers
   */
  readonly restartBroker?: () => Promise<void>
  /**
   * Multiplies every deadline and test timeout (default 1, tuned for the memory transport).
   * Real brokers join consumer groups and create topics in seconds: use 5-20. Deadlines only bound
   * waits for conditions, so a larger scale never slows a passing run.
   */
  readonly timeScale?: number
  /**
   * How much earlier than asked a delayed redelivery may arrive, in ms (default 20), for clocks
   * and timers of different resolution (broker TTLs, timer coalescing).
   */
  readonly clockToleranceMs?: number
  /**
   * Makes a transport pointed at an address where no broker listens (e.g. a closed port on
   * 127.0.0.1). When given, the suite checks that `connect()` and `publish()` reject with
   * `BrokerUnavailableError` within 5 s and that `status$` shows the error.
   *
   * @example
   * unreachable: () => new MyBrokerTransport({ url: 'mybroker://127.0.0.1:1' })
   */
  readonly unreachable?: () => Transport | Promise<Transport>
}

/** Options with defaults applied, as scenarios see them. */
export interface ResolvedContractOptions {
  readonly scenarios: ReadonlySet<ContractScenarioGroup> | undefined
  readonly restartBroker: (() => Promise<void>) | undefined
  readonly timeScale: number
  readonly clockToleranceMs: number
  readonly unreachable: (() => Transport | Promise<Transport>) | undefined
}

/** Applies defaults and checks ranges; throws a plain `Error` for a misuse of the suite. */
export function resolveContractOptions(options: TransportContractOptions = {}): ResolvedContractOptions {
  const timeScale = options.timeScale ?? 1
  if (!(Number.isFinite(timeScale) && timeScale > 0)) {
    throw new Error(`transportContract: timeScale must be a positive number, got ${String(timeScale)}`)
  }
  const clockToleranceMs = options.clockToleranceMs ?? 20
  if (!(Number.isFinite(clockToleranceMs) && clockToleranceMs >= 0)) {
    throw new Error(
      `transportContract: clockToleranceMs must be a number >= 0, got ${String(clockToleranceMs)}`,
    )
  }
  return {
    scenarios: options.scenarios === undefined ? undefined : new Set(options.scenarios),
    restartBroker: options.restartBroker,
    timeScale,
    clockToleranceMs,
    unreachable: options.unreachable,
  }
}
