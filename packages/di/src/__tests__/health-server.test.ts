/**
 * `serveHealth` on the memory transport (no broker): the probes, `/metrics` checked by promtool,
 * and the typed error for a bad port. Kafka and RabbitMQ run the same suite in
 * `health-server.integration.test.ts`.
 */
import 'reflect-metadata'
import { MemoryTransport } from '@switchyard/memory'
import { container } from 'tsyringe'
import { expect, it } from 'vitest'
import { configure, serveHealth } from '../index.js'
import { healthSuite } from './health-suite.js'

healthSuite('memory', () => new MemoryTransport(), { system: 'switchyard_memory', timeoutMs: 10_000 })

it('refuses a bad port with a ConfigError naming the field', async () => {
  const app = await configure(container.createChildContainer(), { transport: { kind: 'memory' } })
  const error = await serveHealth(app, { port: 70_000 }).catch((e: unknown) => e)
  expect((error as { name: string }).name).toBe('ConfigError')
  expect((error as { context: { field: string } }).context.field).toBe('port')
  expect((error as Error).message).toContain('port must be an integer from 0 to 65535')
  await app.stop()
})
