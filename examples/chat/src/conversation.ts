/**
 * The conversation the demo and the tests run — `users` users in `rooms` rooms, each posting
 * `perUser` messages one after another — and the check of what the rooms show afterwards.
 */
import type { ConfigStore } from '@switchyard/config'
import type { Bus } from '@switchyard/core'
import { chatTopics, type Delivered, type Post, roomHistory } from './chat.js'

export interface ConversationPlan {
  readonly users: number
  readonly rooms: number
  readonly perUser: number
  /** Pause between one user's posts, in ms (default 5). */
  readonly pauseMs?: number
  /** Run id, so that several runs never share message ids. */
  readonly run: string
  /** Topic prefix (default `chat`). */
  readonly topicPrefix?: string
}

export const userName = (u: number): string => `user-${String(u + 1).padStart(2, '0')}`
export const roomOf = (plan: ConversationPlan, u: number): string => `room-${(u % plan.rooms) + 1}`

/**
 * Posts every message of the plan; `onProgress(sent)` runs after each post is confirmed (so a test
 * can crash a worker half-way). Resolves with the posts in the order each user sent them.
 */
export async function converse(
  bus: Bus,
  plan: ConversationPlan,
  onProgress: (sent: number) => void = () => {},
): Promise<Post[]> {
  const posts: Post[] = []
  let sent = 0
  await Promise.all(
    Array.from({ length: plan.users }, async (_, u) => {
      const user = userName(u)
      const room = roomOf(plan, u)
      for (let seq = 1; seq <= plan.perUser; seq++) {
        const post: Post = { id: `${plan.run}:${user}:${seq}`, room, user, seq, text: `${user} says #${seq}` }
        await bus.publish(chatTopics(plan.topicPrefix).posted, post, { key: room, id: post.id })
        posts.push(post)
        onProgress(++sent)
        await new Promise((resolve) => setTimeout(resolve, plan.pauseMs ?? 5))
      }
    }),
  )
  return posts
}

/** What the check found; `problems` is empty when every room is right. */
export interface RoomsReport {
  readonly rooms: Readonly<Record<string, number>>
  /** Deliveries of `chat.delivered` beyond the first of each post (at-least-once redeliveries). */
  readonly duplicates: number
  readonly problems: readonly string[]
}

/**
 * Every post is in its room's history exactly once, each user's posts in the order they were sent,
 * and the room showed every one of them at the index the history gives it.
 */
export async function checkRooms(
  store: ConfigStore,
  posts: readonly Post[],
  shown: readonly Delivered[],
): Promise<RoomsReport> {
  const problems: string[] = []
  const byRoom = new Map<string, Post[]>()
  for (const post of posts) byRoom.set(post.room, [...(byRoom.get(post.room) ?? []), post])
  const firstShown = new Map<string, Delivered>()
  for (const d of shown) if (!firstShown.has(d.id)) firstShown.set(d.id, d)
  const rooms: Record<string, number> = {}
  for (const [room, sent] of byRoom) {
    const history = await roomHistory(store, room)
    rooms[room] = history.length
    const ids = history.map((p) => p.id)
    if (new Set(ids).size !== ids.length) problems.push(`${room}: a post is stored twice`)
    for (const post of sent) if (!ids.includes(post.id)) problems.push(`${room}: ${post.id} is missing`)
    const lastSeq = new Map<string, number>()
    history.forEach((post, index) => {
      if ((lastSeq.get(post.user) ?? 0) >= post.seq) problems.push(`${room}: ${post.id} is out of order`)
      lastSeq.set(post.user, post.seq)
      const d = firstShown.get(post.id)
      if (d === undefined) problems.push(`${room}: ${post.id} was never shown`)
      else if (d.index !== index) problems.push(`${room}: ${post.id} shown at ${d.index}, stored at ${index}`)
    })
  }
  return { rooms, duplicates: shown.length - firstShown.size, problems }
}
