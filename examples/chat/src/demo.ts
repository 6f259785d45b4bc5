/**
 * The in-memory run of the chat example (what `npm start` prints and the unit test checks): two room
 * workers on one in-memory transport and one in-memory config store, 20 users in 5 rooms, and
 * worker-2 crashing (closed without draining) half-way through the conversation.
 */
import { MemoryConfigBackend, MemoryConfigStore } from '@switchyard/config'
import { Bus } from '@switchyard/core'
import { MemoryTransport } from '@switchyard/memory'
import { firstValueFrom } from 'rxjs'
import { ChatWorker, type Delivered, presence$, roomsGroup, topics } from './chat.js'
import { type ConversationPlan, checkRooms, converse, type RoomsReport, userName } from './conversation.js'

export interface DemoResult {
  readonly report: RoomsReport
  readonly shown: readonly Delivered[]
  /** Users present at the end. */
  readonly present: readonly string[]
  /** Messages stored by each worker. */
  readonly storedBy: Readonly<Record<string, number>>
}

export async function runMemoryDemo(
  plan: ConversationPlan = { users: 20, rooms: 5, perUser: 10, run: `demo-${Date.now()}` },
  log: (line: string) => void = () => {},
): Promise<DemoResult> {
  const transport = new MemoryTransport()
  const backend = new MemoryConfigBackend()
  const observer = new MemoryConfigStore({ backend })
  await transport.provision(topics.posted, { groups: [roomsGroup] })
  const workers = ['worker-1', 'worker-2'].map(
    (name) => new ChatWorker(name, new Bus(transport), new MemoryConfigStore({ backend })),
  )
  const [survivor, crashed] = workers as [ChatWorker, ChatWorker]
  for (const worker of workers) await worker.start()
  // The first half of the users is connected to worker-1, the rest to worker-2.
  for (let u = 0; u < plan.users; u++) await (u < plan.users / 2 ? survivor : crashed).connect(userName(u))

  const client = new Bus(transport)
  const shown: Delivered[] = []
  const screen = client.handle<Delivered>(topics.delivered, { group: 'chat-screen' }, (m) => {
    shown.push(m.payload)
  })
  await screen.ready

  const total = plan.users * plan.perUser
  const posts = await converse(client, plan, (sent) => {
    if (sent === total / 2) {
      log(`-- ${sent} of ${total} posted: worker-2 crashes (its rooms move to worker-1)`)
      // A crash: no drain; what it held goes back to the group, its users' presence ends.
      void crashed.bus.close({ drain: false }).then(() => crashed.store.close())
    }
  })
  const deadline = Date.now() + 10_000
  while (new Set(shown.map((d) => d.id)).size < total && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20))
  }

  const report = await checkRooms(observer, posts, shown)
  const present: string[] = []
  for (let u = 0; u < plan.users; u++) {
    if (await firstValueFrom(presence$(observer, userName(u)))) present.push(userName(u))
  }
  const storedBy: Record<string, number> = {}
  for (const d of shown) storedBy[d.worker] = (storedBy[d.worker] ?? 0) + 1

  await screen.stop()
  await survivor.stop()
  await Promise.all([client.close(), survivor.bus.close(), transport.close()])
  await Promise.all([observer.close(), survivor.store.close()])
  return { report, shown, present, storedBy }
}
