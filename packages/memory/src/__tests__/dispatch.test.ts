import { take } from 'rxjs'
import { describe, expect, it } from 'vitest'
import { message, record, settle, unique, until, useTransports } from './helpers.js'

const transport = useTransports()

describe('dispatch', () => {
  it('survives a consumer that acks inside next over a deep backlog (no recursion)', async () => {
    const t = transport()
    const topic = unique('deep')
    await t.provision(topic, { groups: ['g'] })
    const batch = Array.from({ length: 50_000 }, (_, i) =>
      message(topic, String(i), i % 3 ? {} : { key: `k${i % 10}` }),
    )
    await t.publish(batch)
    let received = 0
    const sub = t.subscribe(topic, { group: 'g', inFlight: 1 }).subscribe((d) => {
      received++
      void d.ack()
    })
    await until(
      () => received === 50_000,
      10_000,
      () => received,
    )
    sub.unsubscribe()
    expect((await t.health()).details).toMatchObject({ inFlight: 0 })
  })

  it('loses nothing when a consumer unsubscribes from inside next', async () => {
    const t = transport()
    const topic = unique('take')
    await t.provision(topic, { groups: ['g'] })
    await t.publish(['a', 'b', 'c', 'd'].map((m) => message(topic, m)))
    const taken: string[] = []
    t.subscribe(topic, { group: 'g', inFlight: 4 })
      .pipe(take(1))
      .subscribe((d) => {
        taken.push(new TextDecoder().decode(d.message.payload))
      })
    await settle()
    expect(taken).toEqual(['a'])
    const rest = record(t, topic, { group: 'g' })
    await settle()
    expect(rest.texts()).toEqual(['a', 'b', 'c', 'd'])
  })

  it('publishes resolve before delivery: consumers see messages from the next microtask', async () => {
    const t = transport()
    const topic = unique('micro')
    const r = record(t, topic, { group: 'g' })
    const published = t.publish([message(topic, 'x')])
    expect(r.deliveries.length).toBe(0)
    await published
    expect(r.deliveries.length).toBe(1)
  })
})
