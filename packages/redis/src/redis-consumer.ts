/**
 * `RedisConsumer`: one subscription on a stream. With a group: a consumer of the stream's consumer
 * group reading `XREADGROUP … >` on its own blocking connection, taking over idle entries of dead
 * consumers with `XAUTOCLAIM`, acking with `XACK`. Without a group: a private `XREAD` cursor that
 * starts at the stream's last entry. It survives reconnects (same consumer name, own entries read
 * again from the group's pending list) and returns what it holds to the group when stopped.
 */

import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import type {
  ConsumerHealth,
  ConsumeSpec,
  DeliverySink,
  DriverConsumer,
  Message,
  RawDelivery,
} from '@switchyard/core/spi'
import { bufferReplies, type Client, pairs, replyCode } from './connection.js'
import { entryMessage, type RawEntry } from './stream-entry.js'

/** What a consumer needs from its driver. */
export interface ConsumerContext {
  /** The live command connection, `undefined` while disconnected. */
  client(): Client | undefined
  readonly pollMs: number
  readonly claimIdleMs: number
  /** The consumer's connection broke: the driver reports `disconnected` and re-attaches later. */
  lost(error: unknown): void
  forget(consumer: RedisConsumer): void
}

/** The consumer that entries of stopped consumers are parked on until a live one claims them. */
export const parkingConsumer = 'switchyard:returned'

type StreamReply = [Buffer, RawEntry[]][] | null
type PendingRow = [string, string, number, number]

const done = Promise.resolve()
const noop = (): void => {}

/** Acquire or renew a lease held by ARGV[1] for ARGV[2] ms; 1 when held. */
const leaseScript =
  "local v = redis.call('GET', KEYS[1]) if v == false or v == ARGV[1] then " +
  "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end return 0"
const releaseScript =
  "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"

export class RedisConsumer implements DriverConsumer {
  readonly name = `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`
  readonly #held = new Map<string, Message>()
  readonly #retryAcks = new Set<string>()
  #acks: string[] = []
  #ackFlush: Promise<void> | undefined
  #conn: Client | undefined
  #connId = ''
  #cursor: string | undefined
  #claimCursor = '0-0'
  #nextClaim = 0
  #leaseUntil = 0
  /** `ordered`: the lease was just won; the group's pending entries are taken over before any new one is read. */
  #takeover = false
  #paused = false
  #stopped = false
  #ready = false
  #running: Promise<void> | undefined
  #standby: ReturnType<typeof setTimeout> | undefined

  constructor(
    readonly ctx: ConsumerContext,
    readonly topic: string,
    readonly key: string,
    readonly leaseKey: string,
    readonly spec: ConsumeSpec,
    readonly sink: DeliverySink,
  ) {}

  get attached(): boolean {
    return this.#conn !== undefined
  }

  /** (Re)connects: group created, own pending entries delivered again, then the read loop. */
  async attach(): Promise<void> {
    const main = this.ctx.client()
    if (main === undefined || this.#stopped || this.#conn !== undefined) return
    const { group } = this.spec
    let conn: Client | undefined
    try {
      if (group !== undefined) await this.#ensureGroup(main, this.spec.fromBeginning ? '0' : '$')
      else this.#cursor ??= this.spec.fromBeginning ? '0-0' : await lastId(main, this.key)
      conn = main.duplicate()
      conn.on('error', (error: unknown) => this.#connLost(conn, error))
      conn.on('end', () => this.#connLost(conn, new Error('the connection closed')))
      await conn.connect()
      this.#connId = String(await conn.sendCommand(['CLIENT', 'ID']))
      if (this.#stopped || this.ctx.client() !== main) {
        conn.destroy()
        return
      }
      this.#conn = conn
      if (group !== undefined) {
        if (this.#retryAcks.size > 0) {
          await main.sendCommand(['XACK', this.key, group, ...this.#retryAcks])
          this.#retryAcks.clear()
        }
        await this.#redeliverOwn(conn, group)
      }
    } catch (error) {
      conn?.destroy()
      if (this.#conn === conn) this.#conn = undefined
      if (!this.#stopped) this.ctx.lost(error)
      return
    }
    if (!this.#ready) {
      this.#ready = true
      this.sink.ready()
    }
    this.#kick()
  }

  /** The connection is gone: stop reading; held deliveries stay valid (acks are retried). */
  detach(): void {
    const conn = this.#conn
    this.#conn = undefined
    conn?.destroy()
  }

  pause(): void {
    this.#paused = true
  }

  resume(): void {
    this.#paused = false
    this.#kick()
  }

  async stop(): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    clearTimeout(this.#standby)
    this.ctx.forget(this)
    const main = this.ctx.client()
    const { group } = this.spec
    try {
      // Wake the blocked read (as if it timed out) so the loop ends before the connection closes.
      if (main !== undefined && this.#conn !== undefined)
        await main.sendCommand(['CLIENT', 'UNBLOCK', this.#connId])
      await this.#running
      await this.#ackFlush
      if (main !== undefined && group !== undefined) await this.#returnPending(main, group)
    } catch {
      // An outage: what is pending is taken over after claimIdleMs.
    } finally {
      this.detach()
      this.#held.clear()
    }
  }

  async health(): Promise<ConsumerHealth> {
    const main = this.ctx.client()
    const { group } = this.spec
    if (main === undefined || group === undefined) return {}
    const groups = (await main.sendCommand(['XINFO', 'GROUPS', this.key]).catch(() => [])) as unknown[][]
    const info = groups.map(pairs).find((g) => g.name === group)
    if (info === undefined) return {}
    const lag = typeof info.lag === 'number' ? info.lag : 0
    return { lag: lag + Number(info.pending ?? 0), consumers: Number(info.consumers ?? 0) }
  }

  #kick(): void {
    if (this.#running !== undefined || !this.#canRead()) return
    this.#running = this.#loop().finally(() => {
      this.#running = undefined
    })
  }

  #canRead(): boolean {
    return !this.#paused && !this.#stopped && this.#conn !== undefined && this.#held.size < this.spec.prefetch
  }

  async #loop(): Promise<void> {
    const { group } = this.spec
    while (this.#canRead()) {
      const conn = this.#conn as Client
      const room = this.spec.prefetch - this.#held.size
      try {
        if (group === undefined) {
          const reply = (await conn.sendCommand(
            [
              'XREAD',
              'COUNT',
              String(room),
              'BLOCK',
              String(this.ctx.pollMs),
              'STREAMS',
              this.key,
              this.#cursor as string,
            ],
            bufferReplies,
          )) as StreamReply
          this.#deliverAll(reply?.[0]?.[1] ?? [], undefined)
          continue
        }
        if (this.spec.ordered && !(await this.#holdLease())) return this.#waitForLease()
        if (this.#takeover) {
          // The previous holder's unsettled entries come first, in stream order, or the group's order
          // breaks: everything pending that it has not touched for 2 × pollMs (it held the lease for
          // 3 × pollMs after its last renewal, so a dead holder's entries are all older than that).
          await this.#claim(conn, group, room, this.ctx.pollMs * 2)
          if (this.#claimCursor === '0-0') this.#takeover = false
          continue
        }
        const now = Date.now()
        if (now >= this.#nextClaim) {
          this.#nextClaim = now + this.ctx.pollMs
          await this.#claim(conn, group, room)
          continue
        }
        const block = Math.max(1, Math.min(this.ctx.pollMs, this.#nextClaim - now))
        const reply = (await conn.sendCommand(
          ['XREADGROUP', 'GROUP', group, this.name, 'COUNT', String(room), 'BLOCK', String(block)].concat([
            'STREAMS',
            this.key,
            '>',
          ]),
          bufferReplies,
        )) as StreamReply
        this.#deliverAll(reply?.[0]?.[1] ?? [], undefined)
      } catch (error) {
        if (this.#stopped || this.#conn !== conn) return
        if (group !== undefined && replyCode(error) === 'NOGROUP') {
          // The stream or group was deleted under us: create it again and go on.
          const main = this.ctx.client()
          if (main !== undefined) await this.#ensureGroup(main, '$').catch(noop)
          continue
        }
        this.ctx.lost(error)
        return
      }
    }
  }

  /** Hands entries to the sink; `attempts` maps entry ids to delivery counts (else 1). */
  #deliverAll(entries: readonly RawEntry[], attempts: Map<string, number> | undefined): void {
    for (const [rawId, fields] of entries) {
      const id = rawId.toString('latin1')
      if (this.spec.group === undefined) this.#cursor = id
      if (this.#stopped || this.#held.has(id)) continue
      const message = fields === null ? undefined : entryMessage(this.topic, fields, attempts?.get(id) ?? 1)
      if (message === undefined) {
        // Trimmed away while pending, or not written by Switchyard: nothing to deliver.
        if (this.spec.group !== undefined) void this.#ack(id)
        continue
      }
      this.#held.set(id, message)
      this.sink.deliver(this.#raw(id, message))
    }
  }

  #raw(id: string, message: Message): RawDelivery {
    const settle = (): Promise<void> => {
      if (!this.#held.delete(id)) return done
      this.#kick()
      return this.spec.group === undefined ? done : this.#ack(id)
    }
    return { message, ack: settle, reject: settle, requeue: () => this.#requeue(id, message) }
  }

  /** XACKs of one tick go out as one command; a failed one is sent again after reconnecting. */
  #ack(id: string): Promise<void> {
    this.#acks.push(id)
    this.#ackFlush ??= Promise.resolve().then(async () => {
      const ids = this.#acks
      this.#acks = []
      this.#ackFlush = undefined
      const main = this.ctx.client()
      try {
        if (main === undefined) throw new Error('disconnected')
        await main.sendCommand(['XACK', this.key, this.spec.group as string, ...ids])
      } catch {
        for (const i of ids) this.#retryAcks.add(i)
      }
    })
    return this.#ackFlush
  }

  /** Back to the group with the delivery counter at `attempt + 1`: claimed again by this consumer. */
  async #requeue(id: string, message: Message): Promise<void> {
    if (!this.#held.has(id)) return
    const again = { ...message, attempt: message.attempt + 1 }
    const { group } = this.spec
    if (group === undefined) {
      this.#held.set(id, again)
      queueMicrotask(() => this.sink.deliver(this.#raw(id, again)))
      return
    }
    this.#held.delete(id)
    const main = this.ctx.client()
    if (main === undefined) return // still pending: delivered again after the reconnect
    try {
      const claimed = (await main.sendCommand([
        'XCLAIM',
        this.key,
        group,
        this.name,
        '0',
        id,
        'RETRYCOUNT',
        String(again.attempt),
        'JUSTID',
      ])) as string[]
      if (claimed.length === 0 || this.#stopped) {
        this.#kick()
        return
      }
      this.#held.set(id, again)
      this.sink.deliver(this.#raw(id, again))
    } catch {
      // Lost with the connection: the entry is still ours and is delivered again on re-attach.
    }
  }

  /** Takes over entries idle for claimIdleMs (a dead consumer's, or returned by a stopped one). */
  async #claim(conn: Client, group: string, room: number, minIdleMs = this.ctx.claimIdleMs): Promise<void> {
    const reply = (await conn.sendCommand(
      ['XAUTOCLAIM', this.key, group, this.name, String(minIdleMs), this.#claimCursor, 'COUNT', String(room)],
      bufferReplies,
    )) as [Buffer, RawEntry[], Buffer[]?]
    this.#claimCursor = reply[0].toString('latin1')
    const entries = reply[1].filter(([id]) => !this.#held.has(id.toString('latin1')))
    if (entries.length === 0) return
    this.#deliverAll(entries, await this.#attempts(conn, group, entries))
  }

  /** Delivery counters (XPENDING) of entries this consumer owns. */
  async #attempts(conn: Client, group: string, entries: readonly RawEntry[]): Promise<Map<string, number>> {
    const ids = entries.map(([id]) => id.toString('latin1')).sort(compareIds)
    const rows = (await conn.sendCommand([
      'XPENDING',
      this.key,
      group,
      ids[0] as string,
      ids.at(-1) as string,
      String(ids.length * 2 + 10),
      this.name,
    ])) as PendingRow[]
    return new Map(rows.map(([id, , , count]) => [id, Number(count)]))
  }

  /** After a reconnect: this consumer's own pending entries that nobody holds here any more. */
  async #redeliverOwn(conn: Client, group: string): Promise<void> {
    let from = '0-0'
    for (;;) {
      const reply = (await conn.sendCommand(
        ['XREADGROUP', 'GROUP', group, this.name, 'COUNT', '256', 'STREAMS', this.key, from],
        bufferReplies,
      )) as StreamReply
      const entries = reply?.[0]?.[1] ?? []
      if (entries.length === 0) return
      from = (entries.at(-1) as RawEntry)[0].toString('latin1')
      const fresh = entries.filter(([id]) => {
        const key = id.toString('latin1')
        return !this.#held.has(key) && !this.#retryAcks.has(key)
      })
      if (fresh.length > 0) this.#deliverAll(fresh, await this.#attempts(conn, group, fresh))
    }
  }

  /** Parks every entry this consumer still owns for the next claim (no counter change), then leaves the group. */
  async #returnPending(main: Client, group: string): Promise<void> {
    for (;;) {
      const rows = (await main.sendCommand([
        'XPENDING',
        this.key,
        group,
        '-',
        '+',
        '1000',
        this.name,
      ])) as PendingRow[]
      if (rows.length > 0) {
        const ids = rows.map(([id]) => id)
        const idle = String(this.ctx.claimIdleMs)
        await main.sendCommand([
          'XCLAIM',
          this.key,
          group,
          parkingConsumer,
          '0',
          ...ids,
          'IDLE',
          idle,
          'JUSTID',
        ])
      }
      if (rows.length < 1000) break
    }
    await main.sendCommand(['XGROUP', 'DELCONSUMER', this.key, group, this.name])
    if (this.spec.ordered) await main.sendCommand(['EVAL', releaseScript, '1', this.leaseKey, this.name])
  }

  /** `ordered`: only the holder of the group's lease reads (a single active consumer). */
  async #holdLease(): Promise<boolean> {
    if (Date.now() < this.#leaseUntil) return true
    const main = this.ctx.client()
    if (main === undefined) return false
    const leaseMs = this.ctx.pollMs * 3
    const held = await main.sendCommand<number>([
      'EVAL',
      leaseScript,
      '1',
      this.leaseKey,
      this.name,
      String(leaseMs),
    ])
    if (held !== 1) {
      this.#leaseUntil = 0
      return false
    }
    if (this.#leaseUntil === 0) {
      this.#takeover = true
      this.#claimCursor = '0-0'
    }
    this.#leaseUntil = Date.now() + this.ctx.pollMs
    return true
  }

  #waitForLease(): void {
    this.#standby = setTimeout(() => {
      this.#standby = undefined
      this.#kick()
    }, this.ctx.pollMs)
  }

  async #ensureGroup(main: Client, from: string): Promise<void> {
    try {
      await main.sendCommand(['XGROUP', 'CREATE', this.key, this.spec.group as string, from, 'MKSTREAM'])
    } catch (error) {
      if (replyCode(error) !== 'BUSYGROUP') throw error
    }
  }

  #connLost(conn: Client | undefined, error: unknown): void {
    if (conn === undefined || this.#conn !== conn || this.#stopped) return
    this.detach()
    this.ctx.lost(error)
  }
}

/** The id of the stream's last entry (`0-0` when it is empty or missing): a private cursor's start. */
const lastId = async (main: Client, key: string): Promise<string> => {
  const last = (await main.sendCommand(['XREVRANGE', key, '+', '-', 'COUNT', '1'])) as [string, unknown][]
  return last[0]?.[0] ?? '0-0'
}

/** Orders stream ids (`ms-seq`) numerically. */
export const compareIds = (a: string, b: string): number => {
  const [am = 0, as = 0] = a.split('-').map(Number)
  const [bm = 0, bs = 0] = b.split('-').map(Number)
  return am - bm || as - bs
}
