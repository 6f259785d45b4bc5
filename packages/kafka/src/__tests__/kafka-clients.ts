/**
 * The Kafka clients the adapter and contract tests run on. `@platformatic/kafka` needs a newer
 * Node than kafkajs: on an older Node its runs are skipped, and each test file says so on stderr
 * (the README's `npm test` runs every suite on Node 22 and 24 as well, where they run).
 */
import type { KafkaClientName } from '../options.js'
import { platformaticNode, supportsPlatformatic } from '../platformatic-client.js'

export interface KafkaClientRun {
  readonly client: KafkaClientName
  /** False when this Node cannot run the client: its tests are skipped, with a notice. */
  readonly runs: boolean
}

export const kafkaClients: readonly KafkaClientRun[] = [
  { client: 'kafkajs', runs: true },
  { client: 'platformatic', runs: supportsPlatformatic(process.versions.node) },
]

/** Prints, once per test file, which client runs are skipped on this Node and why. */
export function announceSkippedClients(file: string): void {
  for (const { client, runs } of kafkaClients) {
    if (runs) continue
    process.stderr.write(
      `\n[${file}] NOT RUN ON THIS NODE: the client '${client}' tests need Node ${platformaticNode}; this is Node ` +
        `${process.versions.node}. They run on Node 22 and 24 in \`npm test\` (scripts/test.sh).\n`,
    )
  }
}
