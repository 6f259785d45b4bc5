import { describe, expect, it } from 'vitest'
import { message, record, settle, unique, useTransports } from './helpers.js'

const transport = useTransports()

describe('deprovision', () => {
  it('deletes the named groups with what they hold, keeping the others', async () => {
    const t = transport()
    const topic = unique('deprov')
    await t.provision(topic, { groups: ['a', 'b'] })
    await t.publish([message(topic, 'before')])
    await t.deprovision(topic, { groups: ['a'] })
    const a = record(t, topic, { group: 'a' })
    const b = record(t, topic, { group: 'b' })
    await settle()
    expect(a.texts()).toEqual([])
    expect(b.texts()).toEqual(['before'])
  })

  it('without groups deletes every group of the topic and its retained messages; deleting again resolves', async () => {
    const t = transport()
    const topic = unique('deprovall')
    await t.provision(topic, { groups: ['a', 'b'] })
    await t.publish([message(topic, 'before')])
    const before = (await t.health()).details
    await t.deprovision(topic)
    await expect(t.deprovision(topic)).resolves.toBeUndefined()
    const after = (await t.health()).details
    expect(before).toMatchObject({ topics: 1, groups: 2, retainedMessages: 1 })
    expect(after).toMatchObject({ topics: 0, groups: 0, retainedMessages: 0 })
    const replaying = record(t, topic, { group: 'c', fromBeginning: true })
    await settle()
    expect(replaying.texts()).toEqual([])
  })

  it('refuses invalid names with InvalidTopicError', async () => {
    const t = transport()
    await expect(t.deprovision('a..b')).rejects.toMatchObject({ name: 'InvalidTopicError' })
    await expect(t.deprovision('ok', { groups: ['bad group'] })).rejects.toMatchObject({
      name: 'InvalidTopicError',
    })
  })
})

describe('health', () => {
  it('connects on first use, as every method does, and reports up', async () => {
    const t = transport()
    expect(await t.health()).toMatchObject({
      status: 'up',
      state: 'connected',
      kind: 'memory',
      subscriptions: [],
    })
  })
})
