/**
 * `@switchyard/di`: tsyringe wiring for Switchyard — tokens, `configure()`, transport sources,
 * the `@Handle` decorator and a graceful start/stop lifecycle.
 */
export { builtinTransports, defaultTransportRegistry } from './builtin-transports.js'
export { configStoreFromEnv } from './config-store-from-env.js'
export type { SwitchyardOptions, TransportConfig } from './configure.js'
export { configure } from './configure.js'
export type { HandlerBinding, HandlerMethod } from './handle-decorator.js'
export { Handle, handlersOf } from './handle-decorator.js'
export type { ShutdownSignalOptions, SignalSource, Stoppable } from './shutdown-signals.js'
export { installShutdownSignals } from './shutdown-signals.js'
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
export type { Environment, ResolvedTransportConfig, TransportFactory } from './transport-registry.js'
export { configErrorFrom, TransportRegistry } from './transport-registry.js'
export type {
  FromEnvOptions,
  LoadedTransportConfig,
  TransportSource,
  TransportSourceContext,
} from './transport-source.js'
export { fromConfigStore, fromEnv, fromEtcd, isTransportSource, transportSource } from './transport-source.js'
