/**
 * The built `switchyard` binary against the in-memory transport and closed ports: what needs no
 * broker. A memory transport lives in one process, so cross-process round trips are in
 * `cli.integration.test.ts` (Kafka, RabbitMQ, Redis, NATS) instead.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { cliEnv, runCli } from './run-cli.js'

const memory = cliEnv({ TRANSPORT: 'memory' })
const dir = mkdtempSync(join(tmpdir(), 'switchyard-cli-'))

describe('switchyard (no broker)', { timeout: 60_000 }, () => {
  it('prints help with the exit codes and exits 0', async () => {
    const r = await runCli(['--help'], cliEnv())
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('publish')
    expect(r.stdout).toContain('dlq')
    expect(r.stdout).toContain('3 broker/etcd unreachable')
  })

  it('exits 1 for an unknown option', async () => {
    const r = await runCli(['publish', 'orders', '{}', '--bogus'], memory)
    expect(r.code).toBe(1)
    expect(r.stderr).toContain("unknown option '--bogus'")
  })

  it('exits 2 and says which flag to pass when no transport is chosen', async () => {
    const r = await runCli(['publish', 'orders', '{}'], cliEnv())
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('--transport')
  })

  it('exits 2 with ConfigError for an unknown transport kind', async () => {
    const r = await runCli(['-t', 'carrier-pigeon', 'health'], cliEnv())
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('ConfigError')
    expect(r.stderr).toContain('rabbitmq')
  })

  it('publishes on memory and prints the message id', async () => {
    const r = await runCli(['publish', 'orders', '{"n":1}', '--key', 'k1', '--header', 'x-a=1'], memory)
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^published [0-9a-f-]{36} to orders \(key k1\)\n$/)
  })

  it('publishes --count copies and reports them as JSON', async () => {
    const r = await runCli(['--json', 'publish', 'orders', '-', '--count', '2500'], memory, '{"n":2}')
    expect(r.code).toBe(0)
    const out = JSON.parse(r.stdout) as { published: number; ids: string[] }
    expect(out.published).toBe(2500)
    expect(new Set(out.ids).size).toBe(out.ids.length)
  })

  it('exits 2 naming the file for a malformed JSON payload file', async () => {
    const file = join(dir, 'bad.json')
    writeFileSync(file, '{"n": 1,')
    const r = await runCli(['publish', 'orders', `@${file}`], memory)
    expect(r.code).toBe(2)
    expect(r.stderr).toContain(`file ${file} is not valid JSON`)
    expect(r.stderr).toContain('--format text')
    expect(r.stdout).toBe('')
  })

  it('sends a non-JSON file with --format text', async () => {
    const file = join(dir, 'note.txt')
    writeFileSync(file, 'plain words')
    const r = await runCli(['publish', 'notes', `@${file}`, '--format', 'text'], memory)
    expect(r.code).toBe(0)
  })

  it('exits 2 for a payload file that does not exist', async () => {
    const r = await runCli(['publish', 'orders', `@${join(dir, 'missing.json')}`], memory)
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('no such file')
  })

  it('exits 2 with InvalidTopicError for a bad topic name', async () => {
    const r = await runCli(['publish', 'bad topic!', '{}'], memory)
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('InvalidTopicError')
  })

  it('exits 2 for a header that is not k=v', async () => {
    const r = await runCli(['publish', 'orders', '{}', '-H', 'nonsense'], memory)
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('--header name=value')
  })

  it('reports an error as one JSON object on stderr with --json', async () => {
    const r = await runCli(['--json', 'publish', 'bad topic!', '{}'], memory)
    expect(r.code).toBe(2)
    expect(JSON.parse(r.stderr)).toMatchObject({ error: { name: 'InvalidTopicError' } })
  })

  it('prints health of memory', async () => {
    const r = await runCli(['--json', 'health'], memory)
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({
      kind: 'memory',
      status: 'up',
      capabilities: { replay: true },
    })
  })

  it('lists an empty DLQ on memory', async () => {
    const r = await runCli(['dlq', 'list', 'orders', '--wait', '100'], memory)
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('(no dead letters)')
  })

  it('exits 2 for a --since that is not a time', async () => {
    const r = await runCli(['dlq', 'list', 'orders', '--since', 'yesterday-ish'], memory)
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('ISO 8601')
  })

  it('exits 3 with BrokerUnavailableError when RabbitMQ is not listening', async () => {
    const r = await runCli(
      ['health'],
      cliEnv({ TRANSPORT: 'rabbitmq', SWITCHYARD_RABBITMQ_URL: 'amqp://127.0.0.1:1' }),
    )
    expect(r.code).toBe(3)
    expect(r.stderr).toContain('BrokerUnavailableError')
  })

  it('exits 3 with BrokerUnavailableError when Kafka is not listening', async () => {
    const r = await runCli(['-t', 'kafka', '--brokers', '127.0.0.1:1', 'publish', 'orders', '{}'], cliEnv())
    expect(r.code).toBe(3)
    expect(r.stderr).toContain('BrokerUnavailableError')
    expect(r.stderr).toContain('127.0.0.1:1')
  })

  it('exits 2 for config commands without etcd', async () => {
    const r = await runCli(['config', 'get', '/apps/x'], cliEnv())
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('--etcd')
  })

  it('prints a bash completion script', async () => {
    const r = await runCli(['completion'], cliEnv())
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('complete -F _switchyard switchyard')
    expect(r.stdout).toContain('*dlq\\ replay*)')
  })
  it('lag and topics on memory: empty, complete, as JSON', async () => {
    const lag = await runCli(['--json', 'lag'], memory)
    expect(lag.code).toBe(0)
    expect(JSON.parse(lag.stdout)).toMatchObject({ complete: true, groups: [] })
    const topics = await runCli(['--json', 'topics'], memory)
    expect(topics.code).toBe(0)
    expect(JSON.parse(topics.stdout)).toEqual([])
  })

  it('lag on an unreachable RabbitMQ exits 3', async () => {
    const r = await runCli(
      ['-t', 'rabbitmq', '--url', 'amqp://guest:guest@127.0.0.1:1/', 'lag', 'orders', '-g', 'billing'],
      cliEnv(),
    )
    expect(r.code).toBe(3)
    expect(r.stderr).toContain('BrokerUnavailableError')
  })

  // A unique password per run, on every transport the command builds, through a failing connection
  // with every log line on: it must appear in nothing the command prints.
  const secret = `pw-${process.pid}-${Date.now().toString(36)}`
  it.each([
    ['rabbitmq', { TRANSPORT: 'rabbitmq', SWITCHYARD_RABBITMQ_URL: `amqp://app:${secret}@127.0.0.1:1/` }],
    [
      'kafka',
      {
        TRANSPORT: 'kafka',
        SWITCHYARD_KAFKA_BROKERS: '127.0.0.1:1',
        SWITCHYARD_KAFKA_SASL_MECHANISM: 'scram-sha-512',
        SWITCHYARD_KAFKA_SASL_USERNAME: 'app',
        SWITCHYARD_KAFKA_SASL_PASSWORD: secret,
      },
    ],
    ['redis', { TRANSPORT: 'redis', SWITCHYARD_REDIS_URL: `redis://app:${secret}@127.0.0.1:1` }],
    [
      'nats',
      {
        TRANSPORT: 'nats',
        SWITCHYARD_NATS_SERVERS: '127.0.0.1:1',
        SWITCHYARD_NATS_USER: 'app',
        SWITCHYARD_NATS_PASSWORD: secret,
      },
    ],
  ])('never prints the %s password, even when the connection fails (every log level on)', async (_, vars) => {
    for (const args of [['health'], ['--json', 'health'], ['publish', 'orders', '{}']]) {
      const r = await runCli(args, cliEnv({ ...vars, SWITCHYARD_LOG_LEVEL: 'debug' }))
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(3)
      expect(r.stderr).toContain('BrokerUnavailableError')
      expect(`${r.stdout}${r.stderr}`).not.toContain(secret)
    }
  })

  it('console refuses a bad port and a malformed --group with exit 1, before connecting', async () => {
    const port = await runCli(['console', '--port', '99999'], memory)
    expect(port.code).toBe(1)
    expect(port.stderr).toContain('--port must be')
    const group = await runCli(['console', '--group', 'no-colon'], memory)
    expect(group.code).toBe(1)
    expect(group.stderr).toContain('topic:group')
  })
})
