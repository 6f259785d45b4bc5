/**
 * `Publisher`: publishes on one confirm channel and resolves when the broker has confirmed.
 *
 * A batch is written in one go and its confirms are awaited together (a window), never one round
 * trip per message. Several windows may be in flight (the core sends up to `confirmWindows`): they
 * are written one after the other, whole, in the order `publish` was called, so the channel keeps
 * their order, and each settles with its own messages' confirms. Socket backpressure (`publish`
 * returning false) waits for `drain`. A message that was written but not confirmed when the
 * connection dropped is written again once the connection is back (it may then be stored twice,
 * never lost), within `publishWaitMs` and `publishBufferMessages`; after that the batch rejects
 * with `BrokerUnavailableError`. A channel that stays open but neither confirms nor drains for
 * `confirmTimeoutMs` while a window waits on it (seen on a quorum queue whose leader was cut off
 * the network), or that has not confirmed a window by `publishWaitMs`, is closed, and its
 * unconfirmed messages are re-sent the same way. Retries always wait for the event loop's next
 * turn, so the heartbeats that notice a dead connection keep running. A broker nack, or
 * a `mandatory` message the broker returns as unroutable, rejects with `PublishError`.
 *
 * It validates nothing about topics or sizes (the core does) and declares no topology. The core
 * flushes or rejects publishes on close; `close()` here only refuses to wait for a connection.
 */
import { BrokerUnavailableError, type SwitchyardError, TransportClosedError } from '@switchyard/core/spi'
import type { Message as AmqpMessage, ChannelModel, ConfirmChannel, Options } from 'amqplib'
import type { ConnectionManager } from './connection-manager.js'
import { encodeError, nackedError, unroutableError } from './errors.js'
import type { ResolvedOptions } from './options.js'

/** One message ready for `basic.publish`. */
export interface Outgoing {
  readonly exchange: string
  readonly routingKey: string
  readonly content: Buffer
  readonly properties: Options.Publish
  /** For errors: the topic the message belongs to. */
  readonly topic: string
}

const kind = 'rabbitmq'

export class Publisher {
  readonly #options: ResolvedOptions
  readonly #connection: ConnectionManager
  #channel: ConfirmChannel | undefined
  #opening: Promise<ConfirmChannel> | undefined
  /** Message ids the broker returned as unroutable, until their confirm arrives. */
  readonly #returned = new Map<string, string>()
  #waiting = 0
  #closed = false
  /** A window is being written (it may be waiting for `drain`); later windows wait their turn. */
  #writing = false
  /** Windows waiting to write, in call order. */
  readonly #turns: (() => void)[] = []
  /** Per channel: windows being written or awaiting confirms, and confirms or drains seen (progress). */
  readonly #inFlight = new Map<ConfirmChannel, { windows: number; progress: number }>()
  /** Channels given up on for not confirming: their lost messages need no topology repair. */
  readonly #abandoned = new WeakSet<ConfirmChannel>()
  /** Channels that saw a nack: closed once their windows are done. */
  readonly #retiring = new Set<ConfirmChannel>()

  readonly #repairTopology: () => Promise<void>

  /** `repairTopology` runs when the broker closed the channel while the connection stayed up. */
  constructor(options: ResolvedOptions, connection: ConnectionManager, repairTopology: () => Promise<void>) {
    this.#options = options
    this.#connection = connection
    this.#repairTopology = repairTopology
  }

  /** Messages waiting for the connection right now (demand for reconnection). */
  get waiting(): number {
    return this.#waiting
  }

  get channelOpen(): boolean {
    return this.#channel !== undefined
  }

  async onConnected(model: ChannelModel): Promise<void> {
    this.#channel = undefined
    this.#opening = undefined
    await this.#openWithin(model)
  }

  onLost(): void {
    this.#channel = undefined
    this.#opening = undefined
  }

  /** Rejects new publishes; those already waiting fail as the connection closes. */
  close(): void {
    this.#closed = true
  }

  /** Publishes all messages and resolves once every one is confirmed. */
  async publish(batch: readonly Outgoing[]): Promise<void> {
    const deadline = Date.now() + this.#options.publishWaitMs
    let pending: readonly number[] | undefined
    for (;;) {
      const channel = this.#channel ?? (await this.#ready(deadline, pending?.length ?? batch.length))
      const lost = await this.#write(channel, deadline, batch, pending)
      if (lost.length === 0) return
      pending = lost
      if (Date.now() >= deadline) {
        throw new BrokerUnavailableError(
          kind,
          this.#options.endpoint,
          `${lost.length} messages stayed unconfirmed for ${this.#options.publishWaitMs} ms (publishWaitMs)`,
          { cause: this.#connection.lastError },
        )
      }
      if (this.#connection.usable && !this.#abandoned.has(channel)) {
        // Only the channel failed (e.g. 404 after an exchange was deleted): repair, then retry calmly.
        await new Promise((resolve) => setTimeout(resolve, 100))
        await this.#repairTopology().catch(() => undefined)
      } else {
        // Never retry without letting timers and I/O run: a loop of promise callbacks alone would
        // starve the heartbeats that notice a dead connection.
        await new Promise((resolve) => setImmediate(resolve))
      }
    }
  }

  /**
   * Writes the batch (or the listed indices of it); resolves with the indices lost to a closed
   * channel, or to a stuck one: a window that is still unconfirmed while its channel confirmed
   * nothing and drained nothing for `confirmTimeoutMs` (checked every `confirmTimeoutMs`), or at
   * the first check past the publish's `deadline` however its confirms trickle, gives up on the
   * channel (closes it: its other windows' messages come back as lost too) and counts its
   * unconfirmed messages as lost, so they are re-sent on a fresh channel.
   */
  async #write(
    channel: ConfirmChannel,
    deadline: number,
    batch: readonly Outgoing[],
    indices?: readonly number[],
  ): Promise<number[]> {
    const progress = this.#inFlight.get(channel) ?? { windows: 0, progress: 0 }
    progress.windows++
    this.#inFlight.set(channel, progress)
    if (this.#writing) await new Promise<void>((resolve) => this.#turns.push(resolve))
    else this.#writing = true
    const count = indices ? indices.length : batch.length
    const lost: number[] = []
    let failure: SwitchyardError | undefined
    let nacked = false
    let remaining = count
    /** Per message: 1 once its confirm (or its loss) has been counted. */
    const settled = new Uint8Array(count)
    /** Messages handed to the channel so far. */
    let written = 0
    let givenUp = false
    let finish: () => void = () => undefined
    const confirmed = new Promise<void>((resolve) => {
      finish = resolve
    })
    let wake: () => void = () => undefined
    const stuck = new Promise<void>((resolve) => {
      wake = resolve
    })
    let seen = progress.progress
    const check = (): void => {
      if (progress.progress !== seen && Date.now() < deadline) {
        seen = progress.progress
        timer = setTimeout(check, this.#options.confirmTimeoutMs)
        return
      }
      givenUp = true
      for (let k = 0; k < written; k++) {
        if (settled[k]) continue
        settled[k] = 1
        lost.push(indices ? (indices[k] as number) : k)
      }
      this.#abandon(channel)
      wake()
      finish()
    }
    let timer = setTimeout(check, this.#options.confirmTimeoutMs)
    const returned = this.#returned
    for (let k = 0; k < count && !givenUp; k++) {
      const i = indices ? (indices[k] as number) : k
      const item = batch[i] as Outgoing
      let accepted: boolean
      try {
        accepted = channel.publish(item.exchange, item.routingKey, item.content, item.properties, (error) => {
          progress.progress++
          if (settled[k]) return
          settled[k] = 1
          if (error) {
            if (error.message === 'message nacked') {
              failure ??= nackedError(item.topic)
              nacked = true
            } else lost.push(i)
          } else if (item.properties.mandatory) {
            const reason = returned.get(item.properties.messageId as string)
            if (reason !== undefined) {
              returned.delete(item.properties.messageId as string)
              failure ??= unroutableError(item.topic, reason)
            }
          }
          if (--remaining === 0) finish()
        })
        written = k + 1
      } catch (error) {
        if (error instanceof RangeError || error instanceof TypeError) {
          failure ??= encodeError(item.topic, error)
          remaining -= count - k
          if (remaining === 0) finish()
          break
        }
        // The channel closed under us: everything not yet written is lost and will be re-sent.
        for (let rest = k; rest < count; rest++) lost.push(indices ? (indices[rest] as number) : rest)
        remaining -= count - k
        if (remaining === 0) finish()
        if (this.#channel === channel) this.#channel = undefined
        break
      }
      if (!accepted) {
        await Promise.race([this.#drained(channel), stuck])
        progress.progress++
      }
    }
    // Given up while waiting for `drain`: what was not written is lost as well.
    if (givenUp) for (let k = written; k < count; k++) lost.push(indices ? (indices[k] as number) : k)
    // Hand the channel to the next window (the flag stays set) before awaiting this one's confirms.
    const next = this.#turns.shift()
    if (next) next()
    else this.#writing = false
    await confirmed
    clearTimeout(timer)
    this.#finished(channel, nacked)
    if (failure) throw failure
    return lost
  }

  /** Gives up on a channel that stopped confirming: no new window uses it, and it is closed. */
  #abandon(channel: ConfirmChannel): void {
    if (this.#channel === channel) this.#channel = undefined
    this.#abandoned.add(channel)
    this.#retiring.delete(channel)
    channel.close().catch(() => undefined)
  }

  /**
   * One window on `channel` is done. A nack (e.g. a quorum queue between leaders) can leave the
   * channel's queue client stuck on the old leader, nacking every later publish: after one, new
   * windows take a fresh channel, and this one is closed once the windows already on it are done
   * (so a nack never fails the window beside it).
   */
  #finished(channel: ConfirmChannel, nacked: boolean): void {
    const state = this.#inFlight.get(channel)
    const left = state ? --state.windows : 0
    if (left <= 0) this.#inFlight.delete(channel)
    if (nacked) {
      if (this.#channel === channel) this.#channel = undefined
      this.#retiring.add(channel)
    }
    if (left <= 0 && this.#retiring.delete(channel)) channel.close().catch(() => undefined)
  }

  #drained(channel: ConfirmChannel): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        channel.off('drain', done)
        channel.off('close', done)
        resolve()
      }
      channel.on('drain', done)
      channel.on('close', done)
    })
  }

  /** Waits for a publish channel, bounded by the deadline and the buffer limit. */
  async #ready(deadline: number, count: number): Promise<ConfirmChannel> {
    for (;;) {
      if (this.#closed) throw new TransportClosedError('publish', { context: { transport: kind } })
      const model = this.#connection.usable
      if (model) {
        try {
          return await this.#openWithin(model)
        } catch {
          // the connection dropped (or was dropped) while the channel opened: wait for the next one
        }
      }
      const left = deadline - Date.now()
      if (left <= 0 || this.#waiting + count > this.#options.publishBufferMessages) {
        const why =
          left <= 0
            ? `no connection for ${this.#options.publishWaitMs} ms (publishWaitMs)`
            : `${this.#waiting} messages already wait for the connection (publishBufferMessages)`
        throw new BrokerUnavailableError(kind, this.#options.endpoint, `publish gave up: ${why}`, {
          cause: this.#connection.lastError,
        })
      }
      this.#waiting += count
      try {
        await this.#connection.within(left)
      } finally {
        this.#waiting -= count
      }
    }
  }

  /**
   * Opens the publish channel, or gives up on the connection: one that opens no channel within
   * `confirmTimeoutMs` (seen on a cluster node whose channels were stuck on a quorum queue after a
   * network cut) is dropped, so the core reconnects, through the next node first.
   */
  #openWithin(model: ChannelModel): Promise<ConfirmChannel> {
    if (this.#channel) return Promise.resolve(this.#channel)
    const opening = this.#open(model)
    let timer: ReturnType<typeof setTimeout> | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const ms = this.#options.confirmTimeoutMs
        this.#connection.sever(
          model,
          `no publish channel could be opened on it for ${ms} ms (confirmTimeoutMs)`,
        )
        reject(new Error('channel open timed out'))
      }, this.#options.confirmTimeoutMs)
    })
    return Promise.race([opening, timeout]).finally(() => clearTimeout(timer))
  }

  #open(model: ChannelModel): Promise<ConfirmChannel> {
    if (this.#channel) return Promise.resolve(this.#channel)
    if (this.#opening) return this.#opening
    const opening = model.createConfirmChannel().then((channel) => {
      channel.on('error', () => {
        // 'close' follows; unconfirmed messages are re-sent on the next channel
      })
      channel.on('return', (message: AmqpMessage) => {
        const id = message.properties.messageId
        if (typeof id === 'string') this.#returned.set(id, `${message.fields.routingKey}: NO_ROUTE`)
      })
      channel.on('close', () => {
        if (this.#channel === channel) this.#channel = undefined
      })
      // Open now: from here on `#channel` alone says which channel to use, so a channel given up
      // on (nack, stuck) is never handed out again while its close is still under way.
      if (this.#opening === opening) {
        this.#opening = undefined
        this.#channel = channel
      }
      return channel
    })
    this.#opening = opening
    opening.catch(() => {
      if (this.#opening === opening) this.#opening = undefined
    })
    return opening
  }
}
