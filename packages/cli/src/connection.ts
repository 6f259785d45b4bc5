/**
 * How the command reaches a broker and etcd: the same configuration an application wired with
 * `@switchyard/di` uses, and the same code.
 *
 * Command-line flags only fill in the environment variables `@switchyard/di` reads (`--transport`
 * → `TRANSPORT`, `--brokers` → `SWITCHYARD_KAFKA_BROKERS`, `--transport-key` →
 * `SWITCHYARD_TRANSPORT_KEY`, `--etcd` → `SWITCHYARD_ETCD_ENDPOINTS`, …); then `fromEnv`,
 * `configStoreFromEnv` and `TransportRegistry` choose, validate and build exactly as they do in
 * an app. So a flag, an exported variable or a transport document in etcd all work, and an
 * invalid one fails with the same `ConfigError` naming the field.
 */
import type { ConfigStore } from '@switchyard/config'
import type { Transport } from '@switchyard/core'
import { configStoreFromEnv, fromEnv, TransportRegistry } from '@switchyard/di'
import { kafkaTransport } from '@switchyard/kafka'
import { natsTransport } from '@switchyard/nats'
import { rabbitmqTransport } from '@switchyard/rabbitmq'
import { redisTransport } from '@switchyard/redis'
import { CliError, ExitCode } from './exit-codes.js'

/** The global connection flags (see the README's "Connecting"). */
export interface ConnectionFlags {
  readonly transport?: string
  readonly brokers?: string
  readonly url?: string
  readonly transportKey?: string
  readonly etcd?: string
  readonly namespace?: string
}

/** The environment `@switchyard/di` reads: `env` overridden by whatever flag was given. */
export function environmentOf(
  flags: ConnectionFlags,
  env: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...env }
  const set = (name: string, value: string | undefined): void => {
    if (value !== undefined) out[name] = value
  }
  set('TRANSPORT', flags.transport)
  set('SWITCHYARD_KAFKA_BROKERS', flags.brokers)
  set('SWITCHYARD_RABBITMQ_URL', flags.url)
  set('SWITCHYARD_TRANSPORT_KEY', flags.transportKey)
  set('SWITCHYARD_ETCD_ENDPOINTS', flags.etcd)
  set('SWITCHYARD_ETCD_NAMESPACE', flags.namespace)
  return out
}

/** The transport kinds the command can build. */
export function transportRegistry(): TransportRegistry {
  return new TransportRegistry([kafkaTransport, rabbitmqTransport, redisTransport, natsTransport])
}

/**
 * The etcd config store named by `--etcd` / `SWITCHYARD_ETCD_ENDPOINTS`. Unlike an app, the
 * command never falls back to an in-memory store: it would forget every write at exit.
 */
export function openConfigStore(env: NodeJS.ProcessEnv): ConfigStore {
  if (!env.SWITCHYARD_ETCD_ENDPOINTS) {
    throw new CliError(
      'No etcd to talk to: pass --etcd http://127.0.0.1:2379 (or set SWITCHYARD_ETCD_ENDPOINTS).',
      ExitCode.badInput,
    )
  }
  return configStoreFromEnv(env)
}

/** An open transport and the store its document came from (if any); `close()` closes both. */
export interface Connection {
  readonly transport: Transport
  close(): Promise<void>
}

/**
 * Builds the transport the environment names (a document at `SWITCHYARD_TRANSPORT_KEY` in etcd,
 * or `TRANSPORT` plus that kind's `SWITCHYARD_*` variables) and connects it, so an unreachable
 * broker fails here with `BrokerUnavailableError` rather than on first use.
 */
export async function openTransport(env: NodeJS.ProcessEnv): Promise<Connection> {
  const registry = transportRegistry()
  const store = env.SWITCHYARD_ETCD_ENDPOINTS ? configStoreFromEnv(env) : undefined
  try {
    if (!env.TRANSPORT && !env.SWITCHYARD_TRANSPORT_KEY) {
      throw new CliError(
        `No transport chosen: pass --transport ${registry.kinds().join('|')} (with --brokers or --url), ` +
          'or --etcd and --transport-key /path/of/transport/document (or set TRANSPORT / SWITCHYARD_TRANSPORT_KEY).',
        ExitCode.badInput,
      )
    }
    const loaded = await fromEnv({ env }).load({ registry, configStore: store })
    const transport = await registry.create(loaded.config, loaded.what)
    const close = async (): Promise<void> => {
      await transport.close({ drain: true, timeoutMs: 5_000 }).catch(() => undefined)
      await store?.close().catch(() => undefined)
    }
    try {
      await transport.connect()
    } catch (error) {
      await close()
      throw error
    }
    return { transport, close }
  } catch (error) {
    await store?.close().catch(() => undefined)
    throw error
  }
}
