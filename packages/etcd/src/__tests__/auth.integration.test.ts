/**
 * Credentials against the auth-enabled etcd of the broker manager: the right password works, a
 * wrong one is an `AuthenticationError` (not retried as an outage).
 */
import { etcdAuthConnection } from '@switchyard/brokers'
import { expectSwitchyardError, uniqueName } from '@switchyard/contract'
import { describe, expect, it } from 'vitest'
import { EtcdConfigStore } from '../etcd-config-store.js'

describe('etcd with authentication', () => {
  it('works with the right password', async () => {
    const store = new EtcdConfigStore({
      endpoints: etcdAuthConnection.endpoints,
      auth: { username: etcdAuthConnection.username, password: etcdAuthConnection.password },
      namespace: `${uniqueName('auth')}/`,
    })
    try {
      const written = await store.put('greeting', { hello: 'auth' })
      expect(await store.get('greeting')).toMatchObject({
        value: { hello: 'auth' },
        revision: written.revision,
      })
    } finally {
      await store.close()
    }
  })

  it('refuses a wrong password with AuthenticationError, without leaking it', async () => {
    const password = 'definitely-not-the-password'
    const store = new EtcdConfigStore({
      endpoints: etcdAuthConnection.endpoints,
      auth: { username: etcdAuthConnection.username, password },
      namespace: `${uniqueName('auth')}/`,
    })
    try {
      const error = await expectSwitchyardError(store.get('anything'), 'AuthenticationError')
      expect(error.message).not.toContain(password)
      await expectSwitchyardError(store.put('anything', 1), 'AuthenticationError')
    } finally {
      await store.close()
    }
  })

  it('is refused without credentials', async () => {
    const store = new EtcdConfigStore({
      endpoints: etcdAuthConnection.endpoints,
      namespace: `${uniqueName('auth')}/`,
    })
    try {
      await expectSwitchyardError(store.put('anything', 1), 'AuthenticationError')
    } finally {
      await store.close()
    }
  })
})
