/**
 * `SwitchyardApp`: the start/stop lifecycle of a configured container.
 *
 * `start()` connects the transport, resolves every service class from the container, subscribes
 * each `@Handle` method through the Bus, waits until every subscription is attached, then calls the
 * services' `onStart()`. `stop()` runs the same way backwards and drains: services' `onStop()`,
 * then every handler subscription stops (running handlers finish), then the Bus, transport and
 * config store close. This module does not build transports (see `configure.ts`) and does not
 * touch process signals unless asked (see `shutdown-signals.ts`).
 */

import type { ConfigStore } from '@switchyard/config'
import type { Bus, HandlerSubscription, Message, SwitchyardError, Transport } from '@switchyard/core'
import { ConfigError } from '@switchyard/core'
import { toError } from '@switchyard/core/spi'
import { type Observable, Subject } from 'rxjs'
import type { DependencyContainer } from 'tsyringe'
import { handlersOf } from './handle-decorator.js'
import type { AppEvent, LiveSwitch } from './live-switch.js'
import { installShutdownSignals, type ShutdownSignalOptions } from './shutdown-signals.js'

/** A class the container can build (`@injectable()` or registered). */
// biome-ignore lint/suspicious/noExplicitAny: tsyringe's own `constructor<T>` type takes any arguments.
export type ServiceClass<T extends object = object> = new (...args: any[]) => T

/** Implement to run code after every handler of the app is subscribed (e.g. start producing). */
export interface OnStart {
  onStart(): void | Promise<void>
}

/** Implement to run code before handlers are drained (e.g. stop producing, close a server). */
export interface OnStop {
  onStop(): void | Promise<void>
}

/** Lifecycle state of an app. */
export type AppState = 'configured' | 'starting' | 'started' | 'stopping' | 'stopped'

export interface StopOptions {
  /** Longest wait for running handlers, per subscription, and for the transport drain (default 10,000 ms). */
  readonly timeoutMs?: number
}

/** One subscribed `@Handle` binding, for introspection and logs. */
export interface RunningHandler {
  readonly service: string
  readonly method: string
  readonly subscription: HandlerSubscription
}

/**
 * The running (or runnable) Switchyard application returned by `configure()`.
 *
 * **When to use**: call `start()` once at start-up and `stop()` (or `installShutdownSignals()`)
 * for a graceful exit. **Details**: `start()` and `stop()` are idempotent; `stop()` during
 * `start()` waits for the start to settle first. After `stop()` the app cannot start again.
 */
export class SwitchyardApp {
  readonly container: DependencyContainer
  readonly transport: Transport
  readonly bus: Bus
  readonly configStore: ConfigStore | undefined
  readonly services: readonly ServiceClass[]
  #state: AppState = 'configured'
  #handlers: RunningHandler[] = []
  #instances: object[] = []
  #starting: Promise<void> | undefined
  #stopping: Promise<void> | undefined
  readonly #liveSwitch: LiveSwitch | undefined
  readonly #quiet = new Subject<never>()
  /**
   * What the app did on its own: with `liveSwitch`, `transport-switch-started`, `transport-switched`
   * (with forwarded count, possible duplicates and timings) and `transport-switch-refused`.
   * Completes when the app has stopped.
   */
  readonly events$: Observable<AppEvent>
  /** Every refused document and failed switch, with the reason (a typed error). Completes on stop. */
  readonly errors$: Observable<SwitchyardError>

  constructor(parts: {
    readonly container: DependencyContainer
    readonly transport: Transport
    readonly bus: Bus
    readonly configStore: ConfigStore | undefined
    readonly services: readonly ServiceClass[]
    readonly liveSwitch?: LiveSwitch | undefined
  }) {
    this.container = parts.container
    this.transport = parts.transport
    this.bus = parts.bus
    this.configStore = parts.configStore
    this.services = parts.services
    this.#liveSwitch = parts.liveSwitch
    this.events$ = parts.liveSwitch?.events.asObservable() ?? this.#quiet.asObservable()
    this.errors$ = parts.liveSwitch?.errors.asObservable() ?? this.#quiet.asObservable()
  }

  get state(): AppState {
    return this.#state
  }

  /** The subscribed handlers (empty before `start()` and after `stop()`). */
  get handlers(): readonly RunningHandler[] {
    return this.#handlers
  }

  /** Connects, subscribes every `@Handle` method of every service, awaits `ready`, then runs `onStart()` hooks. */
  start(): Promise<void> {
    if (this.#state === 'stopping' || this.#state === 'stopped') {
      return Promise.reject(
        new ConfigError('app lifecycle', [
          'state: the app was stopped; configure a new container to start again',
        ]),
      )
    }
    this.#starting ??= this.#start()
    return this.#starting
  }

  async #start(): Promise<void> {
    this.#state = 'starting'
    try {
      await this.transport.connect()
      for (const type of this.services) {
        const instance = this.container.resolve(type)
        this.#instances.push(instance)
        for (const binding of handlersOf(type)) {
          const method = (instance as Record<string | symbol, unknown>)[binding.method]
          if (typeof method !== 'function') {
            throw new ConfigError('handler binding', [
              `${type.name}.${String(binding.method)}: is not a method`,
            ])
          }
          const subscription = this.bus.handle(
            binding.topic,
            binding.options,
            (message: Message<unknown>, context) => method.call(instance, message, context),
          )
          this.#handlers.push({ service: type.name, method: String(binding.method), subscription })
        }
      }
      await Promise.all(this.#handlers.map((h) => h.subscription.ready))
      for (const instance of this.#instances) {
        if (typeof (instance as Partial<OnStart>).onStart === 'function')
          await (instance as OnStart).onStart()
      }
      this.#state = 'started'
      this.#liveSwitch?.start()
    } catch (error) {
      // Undo what started; a later stop() shares this shutdown instead of running hooks twice.
      this.#stopping = this.#shutdown({}).catch(() => undefined)
      await this.#stopping
      throw error
    }
  }

  /**
   * Stops gracefully: `onStop()` hooks (reverse order), then every handler subscription drains
   * (a handler in progress finishes and is settled), then the Bus, transport and config store
   * close. Rejects with the first error met, after attempting every step.
   */
  stop(options: StopOptions = {}): Promise<void> {
    this.#stopping ??= (async () => {
      // A start that hangs (e.g. a broker that never answers) must not block the shutdown for ever.
      if (this.#starting) {
        let timer: NodeJS.Timeout | undefined
        const bound = new Promise<void>((resolve) => {
          timer = setTimeout(resolve, options.timeoutMs ?? 10_000)
        })
        await Promise.race([this.#starting.catch(() => undefined), bound])
        clearTimeout(timer)
      }
      await this.#shutdown(options)
    })()
    return this.#stopping
  }

  async #shutdown(options: StopOptions): Promise<void> {
    this.#state = 'stopping'
    const timeoutMs = options.timeoutMs ?? 10_000
    const errors: Error[] = []
    const attempt = async (step: () => unknown): Promise<void> => {
      try {
        await step()
      } catch (error) {
        errors.push(toError(error))
      }
    }
    // A switch in progress finishes first (bounded), so handlers are not stopped under it.
    await attempt(() => this.#liveSwitch?.stop(timeoutMs))
    this.#quiet.complete()
    for (const instance of [...this.#instances].reverse()) {
      if (typeof (instance as Partial<OnStop>).onStop === 'function')
        await attempt(() => (instance as OnStop).onStop())
    }
    await Promise.all(this.#handlers.map((h) => attempt(() => h.subscription.stop({ timeoutMs }))))
    this.#handlers = []
    await attempt(() => this.bus.close({ drain: true, timeoutMs }))
    await attempt(() => this.transport.close({ drain: true, timeoutMs }))
    if (this.configStore) await attempt(() => this.configStore?.close())
    this.#state = 'stopped'
    if (errors.length > 0) throw errors[0]
  }

  /**
   * Calls `stop()` on SIGTERM and SIGINT (configurable). Returns a function that removes the
   * listeners; they are also removed once the app has stopped. See {@link ShutdownSignalOptions}.
   */
  installShutdownSignals(options: ShutdownSignalOptions = {}): () => void {
    return installShutdownSignals(this, options)
  }
}
