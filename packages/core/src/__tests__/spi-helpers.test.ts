import { firstValueFrom, toArray } from 'rxjs'
import { describe, expect, it } from 'vitest'
import { BrokerUnavailableError, InFlightTracker, StatusSubject, type TransportStatus } from '../spi.js'

describe('StatusSubject', () => {
  it('replays the current status, emits changes and completes after closed', async () => {
    let now = 1000
    const status = new StatusSubject('idle', () => now)
    status.set('connecting')
    const all = firstValueFrom(status.status$.pipe(toArray()))
    now = 2000
    expect(status.set('connected')).toBe(true)
    expect(status.set('connected')).toBe(false)
    const error = new BrokerUnavailableError('stub', 'localhost:1', 'down')
    status.set('reconnecting', error)
    status.set('closed')
    expect(status.set('connected')).toBe(false)
    const seen: TransportStatus[] = await all
    expect(seen.map((s) => s.state)).toEqual(['connecting', 'connected', 'reconnecting', 'closed'])
    expect(seen[0]?.since).toBe(1000)
    expect(seen[1]?.since).toBe(2000)
    expect(seen[2]?.error).toBe(error)
    expect(status.closed).toBe(true)
    // A late subscriber still sees the final state, then completion.
    expect(await firstValueFrom(status.status$.pipe(toArray()))).toHaveLength(1)
  })
})

describe('InFlightTracker', () => {
  it('resolves whenIdle once the count reaches zero', async () => {
    const tracker = new InFlightTracker()
    expect(await tracker.whenIdle(10)).toBe(true)
    tracker.add(2)
    const idle = tracker.whenIdle(5_000)
    tracker.done()
    expect(tracker.count).toBe(1)
    tracker.done()
    expect(await idle).toBe(true)
  })

  it('resolves false after the timeout with work left', async () => {
    const tracker = new InFlightTracker()
    tracker.add()
    expect(await tracker.whenIdle(10)).toBe(false)
    expect(tracker.count).toBe(1)
  })
})
