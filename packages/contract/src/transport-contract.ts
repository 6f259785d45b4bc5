/**
 * `transportContract`: the one suite every Switchyard transport must pass, as a function that
 * registers vitest tests.
 *
 * It reads `transport.capabilities` from a first transport made by the factory and registers the
 * scenarios that apply: what is claimed is tested, what is not claimed gets its negative test
 * where a meaningful one exists, and nothing is skipped at run time. It imports no adapter and
 * never branches on `transport.kind`. The scenarios live in `*-scenarios.ts`; this module only
 * wires them up and closes what each test opened.
 */
import type { Transport } from '@switchyard/core'
import { afterEach, describe } from 'vitest'
import { registerBatchHandlerScenarios } from './batch-handler-scenarios.js'
import { registerBatchingScenarios } from './batching-scenarios.js'
import { registerBusScenarios } from './bus-scenarios.js'
import { registerCloudEventsScenarios } from './cloud-events-scenarios.js'
import { ContractHarness } from './contract-harness.js'
import {
  type ContractScenarioGroup,
  resolveContractOptions,
  type TransportContractOptions,
} from './contract-options.js'
import { registerDedupScenarios } from './dedup-scenarios.js'
import { registerDeliveryScenarios } from './delivery-scenarios.js'
import { registerErrorScenarios } from './error-scenarios.js'
import { registerFeatureScenarios } from './feature-scenarios.js'
import { registerGroupScenarios } from './group-scenarios.js'
import { registerInspectScenarios } from './inspect-scenarios.js'
import { registerLifecycleScenarios } from './lifecycle-scenarios.js'
import { registerRequestReplyScenarios } from './request-reply-scenarios.js'
import { registerRestartScenario } from './restart-scenario.js'
import { registerSettlementScenarios } from './settlement-scenarios.js'

/**
 * Registers the transport contract suite as a `describe` block named after `name`.
 *
 * **When to use**: once in every transport package, in a test file of its own (an
 * `*.integration.test.ts` for a real broker).
 *
 * **Details**: `makeTransport` is called once while tests are collected, to read `capabilities`
 * (that transport is closed unused), and then by each test for every transport it needs. When
 * the transport claims `persistent`, every transport it returns must reach the same broker: tests
 * publish on one, consume on another and hand what a closed one left to a new one. A
 * non-persistent transport may be a broker of its own (memory is), and each test then uses a
 * single instance and never expects a message to cross instances. Each test uses its own
 * topics and groups and closes its transports afterwards. Tests are registered, never skipped:
 * a capability that is not claimed has no test, or a negative one.
 *
 * @example
 * // src/__tests__/my-broker.contract.integration.test.ts
 * import { transportContract } from '@switchyard/contract'
 * import { MyBrokerTransport } from '../my-broker-transport.js'
 *
 * transportContract('my-broker', () => new MyBrokerTransport({ url }), {
 *   timeScale: 10,
 *   restartBroker: () => restartMyBroker(),
 * })
 */
export function transportContract(
  name: string,
  makeTransport: () => Transport | Promise<Transport>,
  options: TransportContractOptions = {},
): void {
  const resolved = resolveContractOptions(options)
  describe(`transport contract: ${name}`, async () => {
    const probe = await makeTransport()
    const capabilities = { ...probe.capabilities }
    await probe.close({ drain: false })
    const h = new ContractHarness(name, capabilities, resolved, makeTransport)
    afterEach(() => h.cleanup(), h.testTimeout(30_000))

    const group = (name: ContractScenarioGroup, register: (harness: ContractHarness) => void): void => {
      if (resolved.scenarios === undefined || resolved.scenarios.has(name)) describe(name, () => register(h))
    }
    group('delivery', registerDeliveryScenarios)
    group('groups', registerGroupScenarios)
    group('settlement', registerSettlementScenarios)
    group('errors', registerErrorScenarios)
    group('publish batching', registerBatchingScenarios)
    group('capabilities', registerFeatureScenarios)
    group('bus policies', registerBusScenarios)
    group('lifecycle', registerLifecycleScenarios)
    group('inspect', registerInspectScenarios)
    group('request-reply', registerRequestReplyScenarios)
    group('idempotent consumers', registerDedupScenarios)
    group('batch handlers', registerBatchHandlerScenarios)
    group('cloudevents', registerCloudEventsScenarios)
    if (resolved.restartBroker !== undefined && capabilities.persistent) {
      group('broker restart', registerRestartScenario)
    }
  })
}
