/**
 * A chat service in the OTP style, on Switchyard: rooms are message keys, so each room's messages
 * are handled one at a time and in order while rooms spread over the workers of one consumer group;
 * each room's history lives in the config store (etcd in production), appended idempotently so a
 * message redelivered after a crash is never stored twice; a user's presence is a leader election
 * held by the worker the user is connected to, on a lease — when that worker dies, the lease expires
 * and the user is gone for everyone within the lease's TTL; the Bus supervises the room handler and
 * restarts it with backoff when its subscription fails.
 */
import type { ConfigStore, LeaderElection } from '@switchyard/config'
import { type Bus, type HandlerSubscription, isSwitchyardError } from '@switchyard/core'
import { map, type Observable } from 'rxjs'

/** The chat's topics under a prefix (default `chat`). */
export function chatTopics(prefix = 'chat') {
  return {
    /** What users post; key = room. */
    posted: `${prefix}.posted`,
    /** What a room shows, in history order; key = room. */
    delivered: `${prefix}.delivered`,
  } as const
}

export const topics = chatTopics()

/** The consumer group of the room workers. */
export const roomsGroup = 'chat-rooms'

/** A message posted to a room. `seq` counts each user's posts to that room from 1. */
export interface Post {
  readonly id: string
  readonly room: string
  readonly user: string
  readonly seq: number
  readonly text: string
}

/** A post as the room shows it: its place in the room's history, and the worker that stored it. */
export interface Delivered extends Post {
  readonly index: number
  readonly worker: string
}

const historyKey = (room: string): string => `rooms/${room}`
const presenceName = (user: string): string => `presence/${user}`

/** The stored history of a room, oldest first. */
export async function roomHistory(store: ConfigStore, room: string): Promise<readonly Post[]> {
  return (await store.get<Post[]>(historyKey(room)))?.value ?? []
}

/** `true` while someone holds the user's presence (a live worker they are connected to). */
export function presence$(store: ConfigStore, user: string): Observable<boolean> {
  return store.election(presenceName(user)).leader$.pipe(map((state) => state.leader !== undefined))
}

export interface ChatWorkerOptions {
  /** Lease of each connected user's presence, in seconds (default 2). */
  readonly presenceTtlSeconds?: number
  /** Rooms handled at once by this worker (default 8); one message at a time per room. */
  readonly concurrency?: number
  /** Topic prefix (default `chat`), see {@link chatTopics}. */
  readonly topicPrefix?: string
}

/** One worker process of the chat service. */
export class ChatWorker {
  readonly #presence = new Map<string, LeaderElection>()
  #rooms: HandlerSubscription | undefined

  constructor(
    readonly name: string,
    readonly bus: Bus,
    readonly store: ConfigStore,
    readonly options: ChatWorkerOptions = {},
  ) {}

  /** Joins the room workers' group; resolves once the group exists at the broker. */
  async start(): Promise<void> {
    this.#rooms = this.bus.handle<Post>(
      chatTopics(this.options.topicPrefix).posted,
      // `ordered`: one message at a time per room on every broker (RabbitMQ: a single active consumer).
      { group: roomsGroup, concurrency: this.options.concurrency ?? 8, ordered: true },
      (message) => this.#store(message.payload),
    )
    await this.#rooms.ready
  }

  /** A user connects to this worker: their presence is held until they leave or the worker dies. */
  async connect(user: string): Promise<void> {
    const election = this.store.election(presenceName(user), {
      ttlSeconds: this.options.presenceTtlSeconds ?? 2,
      candidate: `${this.name}/${user}`,
    })
    this.#presence.set(user, election)
    await election.campaign()
  }

  /** A user leaves: their presence ends at once. */
  async disconnect(user: string): Promise<void> {
    await this.#presence.get(user)?.resign()
    this.#presence.delete(user)
  }

  /** Stops handling rooms (draining) and ends the presence of the connected users. */
  async stop(): Promise<void> {
    await this.#rooms?.stop()
    await Promise.all([...this.#presence.keys()].map((user) => this.disconnect(user)))
  }

  /**
   * Appends a post to its room's history (compare-and-swap, so concurrent writers never lose one;
   * a post already there — a redelivery after a crash — keeps its place) and shows it in the room.
   */
  async #store(post: Post): Promise<void> {
    const key = historyKey(post.room)
    for (;;) {
      const entry = await this.store.get<Post[]>(key)
      const history = entry?.value ?? []
      let index = history.findIndex((p) => p.id === post.id)
      if (index < 0) {
        index = history.length
        try {
          await this.store.put(key, [...history, post], { expectedRevision: entry?.revision ?? '0' })
        } catch (error) {
          if (isSwitchyardError(error, 'RevisionConflictError')) continue
          throw error
        }
      }
      const shown: Delivered = { ...post, index, worker: this.name }
      await this.bus.publish(chatTopics(this.options.topicPrefix).delivered, shown, {
        key: post.room,
        id: `${post.id}:shown`,
      })
      return
    }
  }
}
