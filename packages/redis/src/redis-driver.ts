/**
 * `RedisDriver`: Redis Streams mapped onto core's driver SPI (`TransportDriver`), through
 * node-redis. Topic ↔ stream `<prefix><topic>`; group ↔ consumer group; ack ↔ `XACK`; requeue ↔
 * `XCLAIM` with the counter raised; crash recovery ↔ `XAUTOCLAIM`. One command connection per
 * transport, one blocking connection per subscription (`RedisConsumer`). Validation, in-flight
 * limits, drain, key hold-back, delays, status and reconnect backoff are the core's.
 */
import {
  BrokerUnavailableError,
  type Capabilities,
  type ConsumeSpec,
  type DeliverySink,
  type DriverEvent,
  type DriverFeatures,
  type Inspection,
  type InspectOptions,
  type OutgoingMessage,
  type TransportDriver,
} from '@switchyard/core/spi'
import { type Observable, Subject } from 'rxjs'
import {
  type Client,
  connectError,
  connectFailure,
  kind,
  newClient,
  pairs,
  plaintextPortCheck,
  publishError,
  replyCode,
} from './connection.js'
import { inspectRedis } from './inspect.js'
import { endpointOf, type ResolvedRedisOptions } from './options.js'
import { type ConsumerContext, RedisConsumer } from './redis-consumer.js'
import { entryFields } from './stream-entry.js'

export class RedisDriver implements TransportDriver {
  readonly kind = kind
  readonly capabilities: Capabilities
  /** Redis hands entries out in stream order to any consumer of a group and holds no delays. */
  readonly features: DriverFeatures = { keyOrder: false, delay: false }
  readonly endpoint: string
  readonly #options: ResolvedRedisOptions
  readonly #events = new Subject<DriverEvent>()
  readonly #consumers = new Set<RedisConsumer>()
  readonly #context: ConsumerContext
  #client: Client | undefined
  /** A TLS connection succeeded once: the port speaks TLS, so no plaintext check on reconnects. */
  #tlsConnected = false

  constructor(options: ResolvedRedisOptions) {
    this.#options = options
    this.endpoint = endpointOf(options.url)
    this.capabilities = {
      orderedByKey: false,
      persistent: true,
      replay: true,
      priority: false,
      patterns: false,
      durableDelay: false,
      maxMessageBytes: options.maxMessageBytes,
    }
    this.#context = {
      client: () => this.#client,
      pollMs: options.pollMs,
      claimIdleMs: options.claimIdleMs,
      lost: (error) => this.#lost(this.#client, error),
      forget: (consumer) => this.#consumers.delete(consumer),
    }
  }

  get events$(): Observable<DriverEvent> {
    return this.#events.asObservable()
  }

  /** The live command connection (escape hatch), `undefined` while disconnected. */
  get client(): Client | undefined {
    return this.#client
  }

  /** The stream key of a topic. */
  streamKey(topic: string): string {
    return this.#options.prefix + topic
  }

  /** One connection attempt; then every consumer is attached again. */
  async connect(): Promise<void> {
    const client = newClient(this.#options)
    client.on('error', (error: unknown) => this.#lost(client, error))
    client.on('end', () => this.#lost(client, new Error('the connection closed')))
    try {
      const connected = client.connect()
      if (this.#options.tls === undefined || this.#tlsConnected) await connected
      else await Promise.race([connected, plaintextPortCheck(this.#options)])
      this.#tlsConnected = this.#options.tls !== undefined
    } catch (error) {
      client.destroy()
      throw await connectFailure(error, this.endpoint, this.#options)
    }
    this.#client = client
    for (const consumer of this.#consumers) void consumer.attach()
  }

  publish(messages: readonly OutgoingMessage[]): Promise<void> {
    const client = this.#client
    if (client === undefined) return Promise.reject(this.#unavailable('not connected'))
    const trim = this.#trim()
    const sent = new Array<Promise<unknown>>(messages.length)
    for (let i = 0; i < messages.length; i++) {
      const message = messages[i] as OutgoingMessage
      sent[i] = client.sendCommand([
        'XADD',
        this.streamKey(message.topic),
        ...trim,
        '*',
        ...entryFields(message),
      ])
    }
    return Promise.all(sent).then(
      () => undefined,
      (error: unknown) => {
        throw publishError(error, messages[0]?.topic ?? '', this.endpoint)
      },
    )
  }

  /** Creates each group at the stream's end (`XGROUP CREATE … $ MKSTREAM`); a stream needs no creating. */
  async provision(topic: string, groups: readonly string[]): Promise<void> {
    const client = this.#connected()
    await Promise.all(
      groups.map((group) =>
        client
          .sendCommand(['XGROUP', 'CREATE', this.streamKey(topic), group, '$', 'MKSTREAM'])
          .catch((error) => {
            if (replyCode(error) !== 'BUSYGROUP') throw connectError(error, this.endpoint)
          }),
      ),
    )
  }

  /** Destroys the groups (`XGROUP DESTROY`), or without `groups` deletes the stream with all of them. */
  async deprovision(topic: string, groups: readonly string[] | undefined): Promise<void> {
    const client = this.#connected()
    const key = this.streamKey(topic)
    try {
      if (groups === undefined) await client.sendCommand(['DEL', key])
      else for (const group of groups) await client.sendCommand(['XGROUP', 'DESTROY', key, group])
    } catch (error) {
      // Destroying a group of a stream that is gone: nothing left to delete.
      if (replyCode(error) !== 'ERR' || !/requires the key to exist|no such key/i.test(String(error)))
        throw connectError(error, this.endpoint)
    }
  }

  consume(topic: string, spec: ConsumeSpec, sink: DeliverySink): RedisConsumer {
    const leaseKey = `${this.#options.prefix}lease:${topic}:${spec.group ?? ''}`
    const consumer = new RedisConsumer(this.#context, topic, this.streamKey(topic), leaseKey, spec, sink)
    this.#consumers.add(consumer)
    void consumer.attach()
    return consumer
  }

  /**
   * The streams under the prefix and their groups (see `inspect.ts`). An ACL user without `+scan`
   * gets `NOPERM`: an `AuthenticationError` naming the command, as on every other refusal.
   */
  inspect(options: InspectOptions): Promise<Omit<Inspection, 'at'>> {
    return inspectRedis(this.#connected(), this.#options.prefix, options).catch((error: unknown) => {
      throw connectError(error, this.endpoint)
    })
  }

  /** The server's version and whether accepted entries survive a restart (AOF / RDB settings). */
  async health(): Promise<Readonly<Record<string, unknown>>> {
    const client = this.#client
    const base = { endpoint: this.endpoint, prefix: this.#options.prefix, consumers: this.#consumers.size }
    if (client === undefined) return base
    const info = parseInfo(String(await client.sendCommand(['INFO', 'persistence'])))
    const server = parseInfo(String(await client.sendCommand(['INFO', 'server'])))
    let appendfsync: string | undefined
    let save: string | undefined
    try {
      const config = pairs((await client.sendCommand(['CONFIG', 'GET', 'appendfsync'])) as unknown[])
      appendfsync = config.appendfsync as string | undefined
      save = pairs((await client.sendCommand(['CONFIG', 'GET', 'save'])) as unknown[]).save as
        | string
        | undefined
    } catch {
      // CONFIG is often disabled on managed Redis; INFO still says whether AOF is on.
    }
    return {
      ...base,
      server: server.redis_version,
      persistence: persistence(info.aof_enabled === '1', appendfsync, save),
    }
  }

  async close(): Promise<void> {
    const client = this.#client
    this.#client = undefined
    for (const consumer of this.#consumers) consumer.detach()
    this.#events.complete()
    if (client !== undefined) await client.close().catch(() => client.destroy())
  }

  #connected(): Client {
    if (this.#client === undefined) throw this.#unavailable('not connected')
    return this.#client
  }

  #unavailable(detail: string): BrokerUnavailableError {
    return new BrokerUnavailableError(kind, this.endpoint, detail)
  }

  /** `XADD` trimming arguments of the retention option (`MINID` from the current time). */
  #trim(): string[] {
    const r = this.#options.retention
    if (r === undefined) return []
    const how = r.exact ? '=' : '~'
    if (r.maxLength !== undefined) return ['MAXLEN', how, String(r.maxLength)]
    return ['MINID', how, `${Date.now() - (r.maxAgeMs as number)}-0`]
  }

  /** The command connection (or a consumer's) broke: drop it, detach consumers, report once. */
  #lost(client: Client | undefined, error: unknown): void {
    if (client === undefined || this.#client !== client) return
    this.#client = undefined
    client.destroy()
    for (const consumer of this.#consumers) consumer.detach()
    const detail = error instanceof Error ? error.message : String(error)
    this.#events.next({ type: 'disconnected', error: this.#unavailable(detail) })
  }
}

const parseInfo = (text: string): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const line of text.split(/\r?\n/)) {
    const at = line.indexOf(':')
    if (at > 0) out[line.slice(0, at)] = line.slice(at + 1).trim()
  }
  return out
}

/** What the server's persistence settings mean for accepted messages. */
const persistence = (aof: boolean, appendfsync: string | undefined, save: string | undefined) => {
  const snapshots = save !== undefined && save.trim() !== ''
  const survivesRestart = aof || snapshots
  const note = aof
    ? appendfsync === 'always'
      ? 'every accepted entry is on disk before it is acknowledged'
      : 'a clean restart keeps every accepted entry; a crash may lose the last second (appendfsync everysec)'
    : snapshots
      ? 'only RDB snapshots: a restart loses entries accepted since the last snapshot; turn on appendonly'
      : 'no AOF and no snapshots: a restart loses every stream; turn on appendonly'
  return { aof, appendfsync, rdbSave: save, survivesRestart, note }
}
