/**
 * `RedisDedupStore`: the `DedupStore` of `@switchyard/core`'s `dedupe` middleware on Redis, shared
 * by every consumer process that talks to the same Redis.
 *
 * Each operation is one Lua script, so it is atomic on the server: a claim is `SET key token NX PX
 * lease` (exactly one of any number of racing claimers gets it) followed, when it fails, by reading
 * whether the key is done; completing and releasing change the key only while the caller's token
 * still holds it, so a claim that expired and was taken over is never overwritten.
 */
import {
  BrokerUnavailableError,
  type ClaimResult,
  type DedupStore,
  isSwitchyardError,
} from '@switchyard/core'

/** The part of a connected node-redis client (v5 or v6) the store uses. */
export interface RedisCommandClient {
  sendCommand(args: string[]): Promise<unknown>
}

/** Options of {@link RedisDedupStore}. */
export interface RedisDedupStoreOptions {
  /** A connected node-redis client; the store never connects or closes it. */
  readonly client: RedisCommandClient
  /** Prefix of the store's keys (default `switchyard:dedup:`). */
  readonly prefix?: string
}

const claimScript = `if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 'claimed' end
if redis.call('GET', KEYS[1]) == 'done' then return 'done' end
return 'in-progress'`

const completeScript = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], 'done', 'PX', ARGV[2]) end
return 1`

const releaseScript = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1`

/**
 * Claims of the `dedupe` middleware in Redis: one per key, `done` for the dedup window afterwards.
 *
 * **When to use:** several processes (or restarts of one) consume the same group and a handler's
 * effects must not repeat; the memory store covers one process only.
 *
 * **Details:** a command that fails (Redis unreachable) rejects with `BrokerUnavailableError`; the
 * Bus then retries the delivery, so nothing is lost and nothing runs twice. Keys expire by
 * themselves (`PX`), so the store needs no cleanup.
 *
 * @example
 * const redis = await createClient({ url }).connect()
 * const seen = dedupe({ store: new RedisDedupStore({ client: redis }), windowMs: 3_600_000 })
 * bus.handle('talent.registered', { group: 'mail', middleware: [seen] }, sendWelcome)
 */
export class RedisDedupStore implements DedupStore {
  readonly #client: RedisCommandClient
  readonly #prefix: string

  constructor(options: RedisDedupStoreOptions) {
    this.#client = options.client
    this.#prefix = options.prefix ?? 'switchyard:dedup:'
  }

  async claim(key: string, token: string, leaseMs: number): Promise<ClaimResult> {
    return (await this.#eval(claimScript, key, token, leaseMs)) as ClaimResult
  }

  async complete(key: string, token: string, windowMs: number): Promise<void> {
    await this.#eval(completeScript, key, token, windowMs)
  }

  async release(key: string, token: string): Promise<void> {
    await this.#eval(releaseScript, key, token, 0)
  }

  async #eval(script: string, key: string, token: string, ms: number): Promise<unknown> {
    const args = ['EVAL', script, '1', this.#prefix + key, token, String(Math.ceil(ms))]
    try {
      return await this.#client.sendCommand(args)
    } catch (error) {
      if (isSwitchyardError(error)) throw error
      throw new BrokerUnavailableError(
        'redis',
        'dedup store',
        error instanceof Error ? error.message : String(error),
        {
          cause: error,
          context: { key },
        },
      )
    }
  }
}
