/**
 * `@switchyard/contract`: the contract suites every Switchyard transport (and config store) must
 * pass, as functions that register vitest tests, plus the small helpers they are built from so
 * adapters can reuse them in their own tests.
 */
export type { ClusterFaultReport, ClusterHooks } from './cluster-scenarios.js'
export { clusterContract } from './cluster-scenarios.js'
export type { CollectOptions, Collector, SettleMode } from './collect.js'
export { collect, countRedeliveries } from './collect.js'
export type { ConfigStoreContractOptions, ConfigStoreFactoryOptions } from './config-store-contract.js'
export { configStoreContract } from './config-store-contract.js'
export type { ContractScenarioGroup, TransportContractOptions } from './contract-options.js'
export type { MessageInit } from './create-message.js'
export { createMessage, payloadText } from './create-message.js'
export { ensureBuilt } from './ensure-built.js'
export { expectSwitchyardError } from './expect-switchyard-error.js'
export { connectOutcome, expectNoSecretShown, SecretScan } from './secret-scan.js'
export type { TlsMaterial, TlsRefusalOptions } from './tls-refusals.js'
export { tlsRefusalContract } from './tls-refusals.js'
export { transportContract } from './transport-contract.js'
export { uniqueName } from './unique-name.js'
export type { WaitForOptions } from './wait-for.js'
export { waitFor, withDeadline } from './wait-for.js'
