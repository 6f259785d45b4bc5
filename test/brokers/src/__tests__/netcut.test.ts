/**
 * A network cut never touches the machine's network: outside the private namespace of
 * scripts/in-netns.sh it is refused with a message saying how to run it.
 */
import { describe, expect, it } from 'vitest'
import { BrokerError } from '../broker.js'
import { cutNode, inPrivateNetns } from '../netcut.js'

describe('network cut outside a private namespace', () => {
  it('is refused with a BrokerError that says how to run it', async () => {
    expect(inPrivateNetns()).toBe(false)
    const error = await cutNode('kafka-cluster', 1, [19092]).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(BrokerError)
    expect((error as Error).message).toMatch(/private network namespace/)
    expect((error as Error).message).toMatch(/scripts\/in-netns\.sh/)
  })
})
