#!/usr/bin/env node
/**
 * `switchyard-brokers` / `npm run brokers -- <command>`: the command-line face of the broker manager.
 * Parses arguments, prints results, exits non-zero with the error's message. All work is in manager.ts.
 */
import type { BrokerStatus } from './broker.js'
import { clean } from './clean.js'
import { brokersSettings } from './env.js'
import { type BrokerTarget, brokerTargets, down, logs, restart, status, up } from './manager.js'
import { ensureNft } from './netcut.js'

const usage = `usage: switchyard-brokers <command> [broker]
  up [kafka|rabbitmq|etcd|etcd-auth|etcd-tls|redis|postgres|nats|nats-auth|all]  start what is missing, reuse what runs, wait until ready (default all)
  up kafka-cluster | rabbitmq-cluster      three-node clusters for the fault tests (not part of all)
  up kafka-secure | rabbitmq-secure        SASL_SSL Kafka and TLS RabbitMQ for the TLS tests (not part of all)
  down [<broker>|all]                      stop (data is kept); also kafka-cluster, rabbitmq-cluster
  status                                   what runs: pids, versions, ports, data and log folders
  restart <broker>                         stop and start with data kept; returns when ready
  logs <broker>                            the last lines of the broker's log
  install nft                              nftables (apt-get), for the network-cut scenarios of the
                                           cluster tests; run before entering their namespace
  clean [kafka|rabbitmq|redis|nats|postgres|all]  delete every test topic and group (Kafka), everything in
                                           the test vhost (RabbitMQ), every stream (Redis, NATS) and every test
                                           schema (PostgreSQL); run before tests, never during
state folder: ${brokersSettings.dir} (SWITCHYARD_BROKERS_DIR)`

const target = (value: string | undefined, fallback?: BrokerTarget): BrokerTarget => {
  const picked = value ?? fallback
  if (picked === undefined || !(brokerTargets as readonly string[]).includes(picked)) {
    throw new Error(`expected one of ${brokerTargets.join(', ')}, got '${value ?? ''}'\n${usage}`)
  }
  return picked as BrokerTarget
}

const single = (value: string | undefined): Exclude<BrokerTarget, 'all'> => {
  const picked = target(value)
  if (picked === 'all') throw new Error(`name one broker\n${usage}`)
  return picked
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`

const printStatus = (rows: BrokerStatus[]): void => {
  for (const row of rows) {
    const state = row.running
      ? `running pid ${row.pid ?? '?'}${row.managed ? '' : ' (not started by us)'}`
      : 'stopped'
    const ports = Object.entries(row.ports)
      .map(([name, port]) => `${name} ${port}`)
      .join(', ')
    console.log(`${row.broker.padEnd(9)} ${state}, version ${row.version ?? 'unknown'}, ports: ${ports}`)
    if (row.dataDir) console.log(`${''.padEnd(9)} data: ${row.dataDir}`)
    if (row.logFile) console.log(`${''.padEnd(9)} log:  ${row.logFile}`)
  }
}

const main = async (argv: string[]): Promise<void> => {
  const [command, arg] = argv
  switch (command) {
    case 'up': {
      const began = Date.now()
      for (const r of await up(target(arg, 'all'))) {
        console.log(
          `${r.broker.padEnd(9)} ${r.action} (pid ${r.pid ?? '?'}, ${r.version ?? '?'}) in ${seconds(r.ms)}`,
        )
      }
      console.log(`brokers ready in ${seconds(Date.now() - began)}`)
      return
    }
    case 'down':
      await down(target(arg, 'all'))
      console.log('stopped')
      return
    case 'status':
      printStatus(await status())
      return
    case 'restart': {
      for (const r of await restart(single(arg))) {
        const total = seconds((r.stopMs ?? 0) + r.ms)
        console.log(
          `${r.broker.padEnd(9)} restarted in ${total} (stop ${seconds(r.stopMs ?? 0)}, start ${seconds(r.ms)})`,
        )
      }
      return
    }
    case 'clean': {
      const which = arg ?? 'all'
      if (
        which !== 'kafka' &&
        which !== 'rabbitmq' &&
        which !== 'redis' &&
        which !== 'nats' &&
        which !== 'postgres' &&
        which !== 'all'
      ) {
        throw new Error(`clean takes kafka, rabbitmq, redis, nats, postgres or all, got '${which}'\n${usage}`)
      }
      for (const r of await clean(which)) {
        const removed = Object.entries(r.removed)
          .map(([what, n]) => `${n} ${what}`)
          .join(', ')
        console.log(`${r.broker.padEnd(9)} cleaned: removed ${removed} in ${seconds(r.ms)}`)
      }
      return
    }
    case 'install': {
      if (arg !== 'nft') throw new Error(`install takes nft, got '${arg ?? ''}'\n${usage}`)
      await ensureNft()
      console.log('nft ready')
      return
    }
    case 'logs':
      for (const { file, text } of logs(single(arg))) console.log(`== ${file}\n${text}`)
      return
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(usage)
      return
    default:
      throw new Error(`unknown command '${command}'\n${usage}`)
  }
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(`switchyard-brokers: ${error instanceof Error ? error.message : String(error)}`)
    process.exit(1)
  },
)
