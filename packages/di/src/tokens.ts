/**
 * Injection tokens: the names under which `configure()` registers Switchyard's objects in a
 * tsyringe container.
 *
 * Application classes ask for these with `@inject(TRANSPORT)`, `@inject(BUS)` and
 * `@inject(CONFIG_STORE)`; they never construct a transport themselves. This module holds tokens
 * only, no registration logic (see `configure.ts`).
 */

import type { ConfigStore } from '@switchyard/config'
import type { Bus, Transport } from '@switchyard/core'
import type { InjectionToken } from 'tsyringe'
import type { SwitchyardApp } from './switchyard-app.js'

/**
 * The configured {@link Transport} (memory, Kafka, RabbitMQ, …).
 *
 * **When to use**: to read `capabilities` (e.g. whether priorities are honoured) or `health()`.
 * Publish and consume through {@link BUS} instead.
 *
 * @example
 * constructor(@inject(TRANSPORT) private readonly transport: Transport) {}
 */
export const TRANSPORT: InjectionToken<Transport> = Symbol.for('switchyard.di.Transport')

/**
 * The {@link Bus} built on the configured transport: publish, consume and handle with retry,
 * dead-letter and timeout policies.
 *
 * @example
 * constructor(@inject(BUS) private readonly bus: Bus) {}
 */
export const BUS: InjectionToken<Bus> = Symbol.for('switchyard.di.Bus')

/**
 * The {@link ConfigStore} given to (or built by) `configure()`, for live settings read with
 * `section(key, schema)` or `watch$(key)`. Registered only when a store was configured.
 */
export const CONFIG_STORE: InjectionToken<ConfigStore> = Symbol.for('switchyard.di.ConfigStore')

/** The {@link SwitchyardApp} returned by `configure()`, for classes that need to stop the app themselves. */
export const SWITCHYARD_APP: InjectionToken<SwitchyardApp> = Symbol.for('switchyard.di.App')
