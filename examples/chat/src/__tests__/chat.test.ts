import { describe, expect, it } from 'vitest'
import { userName } from '../conversation.js'
import { runMemoryDemo } from '../demo.js'

describe('chat example on memory', () => {
  it("keeps every room in order through a worker crash, and the crashed worker's users leave", async () => {
    const { report, present, storedBy } = await runMemoryDemo({
      users: 20,
      rooms: 5,
      perUser: 10,
      run: 'unit',
    })
    expect(report.problems).toEqual([])
    expect(Object.values(report.rooms)).toEqual([40, 40, 40, 40, 40])
    // Rooms were spread over both workers before the crash, and worker-1 took over after it.
    expect(storedBy['worker-1']).toBeGreaterThan(0)
    expect(storedBy['worker-2']).toBeGreaterThan(0)
    expect(present).toEqual(Array.from({ length: 10 }, (_, u) => userName(u)))
  }, 30_000)
})
