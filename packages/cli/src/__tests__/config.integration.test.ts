/**
 * `switchyard config` (the built binary) against a real etcd: put, get, history, diff and
 * rollback round-trip; watch sees a change made by another process; secrets are redacted unless
 * revealed with the key. Each test writes under its own namespace and deletes it afterwards.
 */
import { etcdConnection } from '@switchyard/brokers'
import { uniqueName } from '@switchyard/contract'
import { Etcd3 } from 'etcd3'
import { afterAll, describe, expect, it } from 'vitest'
import { cliEnv, jsonLines, runCli, spawnCli } from './run-cli.js'

const namespaces: string[] = []
function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const namespace = `/${uniqueName('cli-config')}/`
  namespaces.push(namespace)
  return cliEnv({
    SWITCHYARD_ETCD_ENDPOINTS: etcdConnection.endpoints.join(','),
    SWITCHYARD_ETCD_NAMESPACE: namespace,
    ...extra,
  })
}

afterAll(async () => {
  const client = new Etcd3({ hosts: etcdConnection.endpoints })
  try {
    for (const ns of namespaces) await client.delete().prefix(ns)
  } finally {
    client.close()
  }
})

const key = '/apps/billing/limits'

describe('switchyard config on etcd', () => {
  it('put, get, history, diff and rollback round-trip', async () => {
    const e = env()
    const v1 = await runCli(['config', 'put', key, '{"rate":10,"burst":5}', '-m', 'first'], e)
    expect(v1.stderr).toBe('')
    expect(v1.code).toBe(0)
    const v2 = await runCli(['--json', 'config', 'put', key, '{"rate":20,"burst":5,"mode":"strict"}'], e)
    expect(v2.code).toBe(0)
    const second = JSON.parse(v2.stdout) as { revision: string; previousRevision: string }

    const got = await runCli(['--json', 'config', 'get', key], e)
    expect(JSON.parse(got.stdout)).toMatchObject({
      value: { rate: 20, mode: 'strict' },
      revision: second.revision,
    })

    const history = JSON.parse((await runCli(['--json', 'config', 'history', key], e)).stdout) as {
      revision: string
      value: unknown
      comment: string | null
      author: string | null
    }[]
    expect(history.map((h) => h.value)).toEqual([
      { rate: 10, burst: 5 },
      { rate: 20, burst: 5, mode: 'strict' },
    ])
    expect(history[0]?.comment).toBe('first')
    expect(history[0]?.author).toContain('switchyard cli')
    const firstRevision = history[0]?.revision as string
    expect(second.previousRevision).toBe(firstRevision)

    const diff = await runCli(['--json', 'config', 'diff', key, firstRevision], e)
    expect(JSON.parse(diff.stdout)).toMatchObject({
      changes: [
        { path: 'mode', kind: 'added', after: 'strict' },
        { path: 'rate', kind: 'changed', before: 10, after: 20 },
      ],
    })

    const rollback = await runCli(['config', 'rollback', key, firstRevision], e)
    expect(rollback.code).toBe(0)
    expect(rollback.stdout).toContain(`rolled back ${key} to revision ${firstRevision}`)
    const now = await runCli(['--json', 'config', 'get', key], e)
    expect(JSON.parse(now.stdout)).toMatchObject({ value: { rate: 10, burst: 5 } })
    const after = JSON.parse((await runCli(['--json', 'config', 'history', key], e)).stdout) as {
      comment: string
    }[]
    expect(after).toHaveLength(3)
    expect(after[2]?.comment).toBe(`rollback to ${firstRevision}`)
  })

  it('exits 2 for an unknown key and for a revision the key never had', async () => {
    const e = env()
    const missing = await runCli(['config', 'get', '/apps/nothing'], e)
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain('No config key "/apps/nothing"')
    expect((await runCli(['config', 'put', key, '1'], e)).code).toBe(0)
    const bad = await runCli(['config', 'rollback', key, '1'], e)
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('has no value at revision 1')
  })

  it('exits 5 when --expect-revision lost the race', async () => {
    const e = env()
    expect((await runCli(['config', 'put', key, '1'], e)).code).toBe(0)
    const r = await runCli(['config', 'put', key, '2', '--expect-revision', '0'], e)
    expect(r.code).toBe(5)
    expect(r.stderr).toContain('RevisionConflictError')
  })

  it('redacts secrets unless --reveal is given with the key', async () => {
    const secretKey = Buffer.alloc(32, 7).toString('base64')
    const e = env({ SWITCHYARD_SECRETS_KEY: secretKey })
    expect((await runCli(['config', 'put', '/apps/db', '{"password":"hunter2"}', '--secret'], e)).code).toBe(
      0,
    )
    const redacted = await runCli(['config', 'get', '/apps/db'], e)
    expect(redacted.code).toBe(0)
    expect(redacted.stdout).not.toContain('hunter2')
    expect(redacted.stdout).toContain('[secret]')
    const history = await runCli(['config', 'history', '/apps/db'], e)
    expect(history.stdout).not.toContain('hunter2')
    const revealed = await runCli(['--json', 'config', 'get', '/apps/db', '--reveal'], e)
    expect(JSON.parse(revealed.stdout)).toMatchObject({ value: { password: 'hunter2' } })
    const { SWITCHYARD_SECRETS_KEY: _, ...withoutKey } = e
    const sealed = await runCli(['config', 'get', '/apps/db', '--reveal'], withoutKey)
    expect(sealed.code).toBe(2)
    expect(sealed.stderr).toContain('SecretKeyError')
    expect(sealed.stdout).not.toContain('hunter2')
  })

  it('watch prints the snapshot and then a change made by another process', async () => {
    const e = env()
    expect((await runCli(['config', 'put', key, '{"rate":1}'], e)).code).toBe(0)
    const watch = spawnCli(['--json', 'config', 'watch', key, '--count', '1'], e)
    await watch.waitForOutput('"snapshot"', 'stdout')
    expect((await runCli(['config', 'put', key, '{"rate":2}'], e)).code).toBe(0)
    expect(await watch.exited).toBe(0)
    expect(jsonLines(watch.stdout()).map((l) => [l.type, l.value])).toEqual([
      ['snapshot', { rate: 1 }],
      ['put', { rate: 2 }],
    ])
  })
})
