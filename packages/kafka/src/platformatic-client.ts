/**
 * Loads `@platformatic/kafka` for `client: 'platformatic'`, after checking that this Node can run
 * it. It is an optional peer dependency, so it is loaded only when asked for (an app on kafkajs
 * never needs it installed), and synchronously (Node's `require` of an ES module, available on
 * every Node the library supports), so the transport's constructor stays synchronous and reports
 * a missing library or an old Node at once, as a `ConfigError` naming the `client` field.
 */
import { createRequire } from 'node:module'
import { ConfigError } from '@switchyard/core/spi'

/** The module's type, for the drivers (a type-only import: erased from the emitted code). */
export type PlatformaticKafka = typeof import('@platformatic/kafka')

/** The Node versions `@platformatic/kafka` 2.x supports (its `engines`: >= 22.22 or >= 24.6). */
export const platformaticNode = '>= 22.22 on the 22 line, >= 24.6 on the 24 line, or a newer major'

/** True when Node `version` (`22.23.5`, `v20.20.2`) can run `@platformatic/kafka`. */
export function supportsPlatformatic(version: string): boolean {
  const [major = 0, minor = 0] = version.replace(/^v/, '').split('.').map(Number)
  if (major === 22) return minor >= 22
  if (major === 24) return minor >= 6
  return major === 23 || major >= 25
}

let loaded: PlatformaticKafka | undefined

/** `@platformatic/kafka`, or a `ConfigError` saying which Node or which install is needed. */
export function loadPlatformatic(nodeVersion: string = process.versions.node): PlatformaticKafka {
  if (!supportsPlatformatic(nodeVersion)) {
    throw new ConfigError(
      'Kafka transport options',
      [
        `client: 'platformatic' needs Node ${platformaticNode} (this is Node ${nodeVersion.replace(/^v/, '')}); ` +
          "run on Node 22.22+ or 24.6+, or use client: 'kafkajs'",
      ],
      { context: { transport: 'kafka', field: 'client' } },
    )
  }
  if (loaded !== undefined) return loaded
  try {
    loaded = createRequire(import.meta.url)('@platformatic/kafka') as PlatformaticKafka
  } catch (error) {
    throw new ConfigError(
      'Kafka transport options',
      [
        "client: 'platformatic' needs the @platformatic/kafka package, which could not be loaded; " +
          "install it (npm install @platformatic/kafka@^2.12.1) or use client: 'kafkajs'",
      ],
      { cause: error, context: { transport: 'kafka', field: 'client' } },
    )
  }
  return loaded
}
