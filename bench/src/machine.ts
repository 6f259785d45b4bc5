/**
 * A description of the machine and software a run used: cores, RAM, load, Node, client library
 * versions, broker versions (from the broker manager) and the Java tools' versions.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { cpus, loadavg, totalmem } from 'node:os'
import { dirname, join } from 'node:path'
import { status } from '@switchyard/brokers'

const require = createRequire(import.meta.url)

/** The version in a package's package.json, found from its entry point (some export maps hide package.json). */
function packageVersion(name: string): string {
  try {
    let dir = dirname(require.resolve(name))
    for (let i = 0; i < 5; i++) {
      const file = join(dir, 'package.json')
      if (existsSync(file)) {
        const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string }
        if (pkg.name === name && pkg.version !== undefined) return pkg.version
      }
      dir = dirname(dir)
    }
  } catch {
    // not installed
  }
  return 'unknown'
}

/** `java -version` prints to stderr. */
function javaVersion(): string {
  const result = spawnSync('java', ['-version'], { encoding: 'utf8', timeout: 30_000 })
  const text = `${result.stderr ?? ''}${result.stdout ?? ''}`.trim()
  return text.split('\n')[0] || 'not found'
}

/** Collects the facts; broker versions only for the brokers that are running. */
export async function describeMachine(): Promise<string[]> {
  const cpu = cpus()
  const lines = [
    `CPU: ${cpu.length} cores, ${cpu[0]?.model.trim() ?? 'unknown model'}`,
    `RAM: ${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    `Load average at start (1/5/15 min): ${loadavg()
      .map((v) => v.toFixed(2))
      .join(' / ')}`,
    `Node ${process.version}, ${process.platform}/${process.arch}`,
    `rxjs ${packageVersion('rxjs')}, kafkajs ${packageVersion('kafkajs')}, amqplib ${packageVersion('amqplib')}, hdr-histogram-js ${packageVersion('hdr-histogram-js')}`,
    `Java: ${javaVersion()}`,
  ]
  try {
    for (const row of await status()) {
      if (row.broker === 'nats')
        lines.push(`nats-server ${row.version ?? 'unknown'} (JetStream) on 127.0.0.1`)
      if (row.broker === 'kafka' || row.broker === 'rabbitmq') {
        lines.push(
          `${row.broker === 'kafka' ? 'Apache Kafka' : 'RabbitMQ'} ${row.version ?? 'unknown'} (${row.running ? 'running' : 'stopped'}) on 127.0.0.1`,
        )
      }
    }
  } catch (error) {
    lines.push(`brokers: status unavailable (${error instanceof Error ? error.message : String(error)})`)
  }
  return lines
}
