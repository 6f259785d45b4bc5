/**
 * `@switchyard/di`: tsyringe wiring for Switchyard — tokens, `configure()` with a registry of
 * transport factories, transport sources, the `@Handle` decorator and a graceful start/stop
 * lifecycle. Adapters are not dependencies: pass the factories of the ones you installed.
 */
export { configStoreFromEnv } from './config-store-from-env.js'
export type { SwitchyardOptions, TransportConfig, TransportConfigOf } from './configure.js'
export { configure } from './configure.js'
export type { HandlerBinding, HandlerMethod } from './handle-decorator.js'
export { Handle, handlersOf } from './handle-decorator.js'
export type {
  HandlerReadiness,
  HealthServer,
  HealthServerOptions,
  MetricsSource,
  Readiness,
} from './health-server.js'
export { serveHealth } from './health-server.js'
export type { AppEvent, LiveSwitchOptions } from './live-switch.js'
export type { ShutdownSignalOptions, SignalSource, Stoppable } from './shutdown-signals.js'
export { installShutdownSignals } from './shutdown-signals.js'
export type { SwitchOptions, SwitchReport } from './switchable-transport.js'
export { SwitchableTransport } from './switchable-transport.js'
export type {
  AppState,
  OnStart,
  OnStop,
  RunningHandler,
  ServiceClass,
  StopOptions,
} from './switchyard-app.js'
export { SwitchyardApp } from './switchyard-app.js'
export { BUS, CONFIG_STORE, SWITCHYARD_APP, TRANSPORT } from './tokens.js'
export type { ResolvedTransportConfig } from './transport-registry.js'
export { TransportRegistry } from './transport-registry.js'
export type {
  FromEnvOptions,
  LoadedTransportConfig,
  TransportDocumentRef,
  TransportSource,
  TransportSourceContext,
} from './transport-source.js'
export { fromConfigStore, fromEnv, fromEtcd, isTransportSource, transportSource } from './transport-source.js'
