/**
 * The `switchyard` command line: commander parses and documents every command and option; this
 * module only declares them and hands the parsed values to the command modules. `run()` maps any
 * error onto an exit code (see `exit-codes.ts`) and prints it with what to do.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander'
import type { ConnectionFlags } from './connection.js'
import type { CommandContext } from './context.js'
import { type DeadLetterFilter, parseTime } from './dead-letter-filter.js'
import type { DlqAction } from './dlq-command.js'
import { ExitCode, exitCodeOf } from './exit-codes.js'
import { Output } from './output.js'
import type { PayloadFormat } from './payload.js'

/** `payload.ts`'s formats, repeated so `--help` loads no codec or broker client. */
const payloadFormats: readonly PayloadFormat[] = ['json', 'text', 'bytes']

// Command modules (and through them the broker clients and etcd) load on first use, so `--help`,
// `completion` and usage errors start fast.
const commands = {
  publish: () => import('./publish-command.js'),
  tail: () => import('./tail-command.js'),
  dlq: () => import('./dlq-command.js'),
  health: () => import('./health-command.js'),
  lag: () => import('./lag-command.js'),
  console: () => import('./console/console-command.js'),
  config: () => import('./config-command.js'),
}

/** Where `run` reads and writes; tests and embedders pass their own. */
export interface RunOptions {
  readonly env?: NodeJS.ProcessEnv
  readonly signal?: AbortSignal
}

function positiveInt(text: string): number {
  const n = Number(text)
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a whole number >= 1.')
  return n
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value]
}

interface GlobalFlags extends ConnectionFlags {
  readonly json?: boolean
}

const dlqOptions = (command: Command): Command =>
  command
    .option('--group <group>', 'consumer group that reads the DLQ (RabbitMQ provisions "dlq")', 'dlq')
    .option('--dlq-topic <topic>', 'dead-letter topic, when the app does not use <topic>.dlq')
    .option('--error <name>', 'only dead letters whose last error has this name (e.g. DecodeError)')
    .option('--id <id>', 'only this message id (repeatable)', collect, [])
    .option('--since <time>', 'dead-lettered at or after: ISO 8601 or a span ago (15m, 2h, 7d)')
    .option('--until <time>', 'dead-lettered at or before: ISO 8601 or a span ago')
    .option('--limit <n>', 'act on at most n dead letters (at most 10000)', positiveInt, 1000)
    .option('--wait <ms>', 'stop reading after this long without a new dead letter', positiveInt, 2000)

/** Builds the program; every action writes through `ctx()` built from the global flags. */
export function buildProgram(options: RunOptions = {}): Command {
  const program = new Command('switchyard')
  const env = options.env ?? process.env
  const signal = options.signal ?? new AbortController().signal
  const ctx = async (): Promise<CommandContext> => {
    const flags = program.opts<GlobalFlags>()
    const { environmentOf } = await import('./connection.js')
    return { out: new Output({ json: flags.json === true, env }), env: environmentOf(flags, env), signal }
  }

  program
    .description(
      'Look inside a Switchyard system from the shell: tail and publish messages, replay dead letters, ' +
        'check transport health and lag, read and change etcd configuration, or serve a web console. ' +
        'Works on every transport.',
    )
    .version('0.1.0')
    .option('--json', 'machine-readable output: one JSON document (or one per line for streams)')
    .option('-t, --transport <kind>', 'transport kind: kafka, rabbitmq, redis, nats, memory (env TRANSPORT)')
    .option('--brokers <list>', 'Kafka brokers, comma-separated (env SWITCHYARD_KAFKA_BROKERS)')
    .option('--url <amqp-url>', 'RabbitMQ URL (env SWITCHYARD_RABBITMQ_URL)')
    .option('--etcd <endpoints>', 'etcd endpoints, comma-separated (env SWITCHYARD_ETCD_ENDPOINTS)')
    .option('--namespace <prefix>', 'etcd key namespace (env SWITCHYARD_ETCD_NAMESPACE)')
    .option(
      '--transport-key <key>',
      'read the transport document at this etcd key instead (env SWITCHYARD_TRANSPORT_KEY)',
    )
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .addHelpText(
      'after',
      '\nExit codes: 0 ok, 1 usage, 2 bad input or not found, 3 broker/etcd unreachable, 4 not supported by the transport, 5 revision conflict, 6 operation failed, 130 interrupted.',
    )

  program
    .command('publish')
    .description('publish a message (JSON by default); resolves once the broker confirmed it')
    .argument('<topic>', 'topic to publish to')
    .argument('[payload]', 'the payload, @file to read a file, or - (or nothing) for stdin')
    .option('-k, --key <key>', 'ordering / partition key')
    .option('-H, --header <k=v>', 'a header (repeatable)', collect, [])
    .option('-n, --count <n>', 'publish n copies (in batches of 1000)', positiveInt, 1)
    .addOption(
      new Option('-f, --format <format>', 'how to encode the payload')
        .choices(payloadFormats)
        .default('json'),
    )
    .action(async (topic: string, payload: string | undefined, flags) => {
      await (await commands.publish()).publishCommand(await ctx(), topic, payload, {
        header: flags.header as string[],
        count: flags.count as number,
        format: flags.format as PayloadFormat,
        ...(flags.key === undefined ? {} : { key: flags.key as string }),
      })
    })

  program
    .command('tail')
    .description('print messages as they arrive, without taking them from any group')
    .argument('<topic>', 'topic, or a pattern (* one word, # any) where the transport supports patterns')
    .option('-n, --count <n>', 'stop after n messages', positiveInt)
    .option('--from-beginning', 'start from the oldest retained message (transports with replay)', false)
    .action(async (topic: string, flags) => {
      await (await commands.tail()).tailCommand(await ctx(), topic, {
        fromBeginning: flags.fromBeginning === true,
        ...(flags.count === undefined ? {} : { count: flags.count as number }),
      })
    })

  const dlq = program.command('dlq').description('dead letters of a topic: list, show, replay, purge')
  const dlqAction = (action: DlqAction, description: string, dryRun: boolean): void => {
    const command = dlq
      .command(action)
      .description(description)
      .argument('<topic>', 'the topic whose DLQ to read')
    if (action === 'show') command.argument('<id>', 'message id of the dead letter')
    dlqOptions(command)
    if (dryRun) command.option('--dry-run', 'show what would be done, change nothing', false)
    command.action(async (topic: string, ...rest: unknown[]) => {
      const id = action === 'show' ? (rest[0] as string) : undefined
      const flags = (action === 'show' ? rest[1] : rest[0]) as Record<string, unknown>
      const now = Date.now()
      const filter: DeadLetterFilter = {
        ids: id === undefined ? (flags.id as string[]) : [id],
        ...(flags.error === undefined ? {} : { errorName: flags.error as string }),
        ...(flags.since === undefined ? {} : { since: parseTime('--since', flags.since as string, now) }),
        ...(flags.until === undefined ? {} : { until: parseTime('--until', flags.until as string, now) }),
      }
      await (await commands.dlq()).dlqCommand(await ctx(), action, topic, {
        group: flags.group as string,
        filter,
        limit: action === 'show' ? 1 : Math.min(flags.limit as number, 10_000),
        waitMs: flags.wait as number,
        dryRun: flags.dryRun === true,
        ...(flags.dlqTopic === undefined ? {} : { dlqTopic: flags.dlqTopic as string }),
      })
    })
  }
  dlqAction('list', 'list dead letters with their reasons (nothing is removed)', false)
  dlqAction('show', 'show one dead letter: reason, headers, payload', false)
  dlqAction('replay', 'send dead letters back to their original topic, then remove them from the DLQ', true)
  dlqAction('purge', 'remove dead letters from the DLQ', true)

  program
    .command('health')
    .description("connect and print the transport's health, state and capabilities")
    .action(async () => {
      await (await commands.health()).healthCommand(await ctx())
    })

  program
    .command('topics')
    .description('list topics with partitions and retained messages (Kafka, memory)')
    .argument('[topic]', 'only this topic')
    .action(async (topic: string | undefined) => {
      await (await commands.lag()).topicsCommand(await ctx(), {
        groups: [],
        ...(topic === undefined ? {} : { topic }),
      })
    })

  program
    .command('lag')
    .description('consumer groups with their lag (Kafka: per partition), consumers where the broker tells')
    .argument('[topic]', 'only this topic (RabbitMQ: required, with --group)')
    .option('-g, --group <group>', 'only this group (repeatable; RabbitMQ: required)', collect, [])
    .action(async (topic: string | undefined, flags) => {
      await (await commands.lag()).lagCommand(await ctx(), {
        groups: flags.group as string[],
        ...(topic === undefined ? {} : { topic }),
      })
    })

  program
    .command('console')
    .description('serve the web console on 127.0.0.1: status, lag, live tail, dead letters, configuration')
    .option('-p, --port <port>', 'port to listen on (0: any free port)', (v) => Number(v), 8686)
    .option(
      '--token <token>',
      'token that mutating actions need (env SWITCHYARD_CONSOLE_TOKEN; default: a random one, printed)',
    )
    .option(
      '-g, --group <topic:group>',
      'a group to chart on RabbitMQ, as topic:group (repeatable)',
      collect,
      [],
    )
    .option('--dlq-group <group>', 'consumer group that reads dead letters', 'dlq')
    .option('--sample <ms>', 'how often to sample lag for the chart', positiveInt, 2000)
    .action(async (flags) => {
      await (await commands.console()).consoleCommand(await ctx(), {
        port: flags.port as number,
        groups: flags.group as string[],
        dlqGroup: flags.dlqGroup as string,
        sampleMs: flags.sample as number,
        ...(flags.token === undefined ? {} : { token: flags.token as string }),
      })
    })

  const config = program
    .command('config')
    .description('etcd configuration: get, put, watch, history, rollback, diff')
  config
    .command('get')
    .argument('<key>', 'key (or prefix with --prefix)')
    .option('--prefix', 'list every key under this prefix', false)
    .option('--reveal', 'print secret values (needs SWITCHYARD_SECRETS_KEY)', false)
    .description('print a value (secrets redacted)')
    .action(async (key: string, flags) => {
      await (await commands.config()).configGet(await ctx(), key, {
        prefix: flags.prefix === true,
        reveal: flags.reveal === true,
      })
    })
  config
    .command('put')
    .argument('<key>', 'key to write')
    .argument('[value]', 'JSON value, @file, or - (or nothing) for stdin')
    .option('--secret', 'encrypt the whole value at rest (needs SWITCHYARD_SECRETS_KEY)', false)
    .option(
      '--expect-revision <rev>',
      "write only if the key is still at this revision ('0': only if absent)",
    )
    .option('-m, --comment <text>', 'note kept in the audit record')
    .option('--author <name>', 'author in the audit record (default: your user name)')
    .description('write a value (audited)')
    .action(async (key: string, value: string | undefined, flags) => {
      await (await commands.config()).configPut(await ctx(), key, value, {
        secret: flags.secret === true,
        ...(flags.expectRevision === undefined ? {} : { expectRevision: flags.expectRevision as string }),
        ...(flags.comment === undefined ? {} : { comment: flags.comment as string }),
        ...(flags.author === undefined ? {} : { author: flags.author as string }),
      })
    })
  config
    .command('watch')
    .argument('<key>', 'key (or prefix with --prefix)')
    .option('--prefix', 'watch every key under this prefix', false)
    .option('--reveal', 'print secret values', false)
    .option('-n, --count <n>', 'stop after n changes', positiveInt)
    .description('print the current value, then every change')
    .action(async (key: string, flags) => {
      await (await commands.config()).configWatch(await ctx(), key, {
        prefix: flags.prefix === true,
        reveal: flags.reveal === true,
        ...(flags.count === undefined ? {} : { count: flags.count as number }),
      })
    })
  config
    .command('history')
    .argument('<key>')
    .option('--reveal', 'print secret values', false)
    .description('every revision of a key with who changed it, when and why')
    .action(async (key: string, flags) => {
      await (await commands.config()).configHistory(await ctx(), key, { reveal: flags.reveal === true })
    })
  config
    .command('rollback')
    .argument('<key>')
    .argument('<revision>', 'a revision from `config history`')
    .option('-m, --comment <text>', 'note kept in the audit record')
    .option('--author <name>', 'author in the audit record')
    .description('write the value a key had at a revision back (a new, audited revision)')
    .action(async (key: string, revision: string, flags) => {
      await (await commands.config()).configRollback(await ctx(), key, revision, {
        ...(flags.comment === undefined ? {} : { comment: flags.comment as string }),
        ...(flags.author === undefined ? {} : { author: flags.author as string }),
      })
    })
  config
    .command('diff')
    .argument('<key>')
    .argument('<from>', 'revision to compare from')
    .argument('[to]', 'revision to compare to (default: the current one)')
    .option('--reveal', 'compare and print secret values', false)
    .description('what changed in a key between two revisions')
    .action(async (key: string, from: string, to: string | undefined, flags) => {
      await (await commands.config()).configDiff(await ctx(), key, from, to, {
        reveal: flags.reveal === true,
      })
    })

  program
    .command('completion')
    .description('print a bash completion script: eval "$(switchyard completion)"')
    .action(() => {
      process.stdout.write(completionScript(program))
    })
  return program
}

/** A bash completion script listing the commands and their options. */
function completionScript(program: Command): string {
  const words = (command: Command): string =>
    [...command.commands.map((c) => c.name()), ...command.options.map((o) => o.long ?? '')]
      .filter(Boolean)
      .join(' ')
  const cases = program.commands
    .map((c) => {
      const sub = c.commands
        .map((s) => `        *${c.name()}\\ ${s.name()}*) opts="${words(s)}" ;;`)
        .join('\n')
      return `${sub ? `${sub}\n` : ''}        *${c.name()}*) opts="${words(c)}" ;;`
    })
    .join('\n')
  return `# switchyard bash completion: eval "$(switchyard completion)"
_switchyard() {
  local cur path opts i
  cur="\${COMP_WORDS[COMP_CWORD]}"
  path=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "\${COMP_WORDS[i]}" in -*) ;; *) path="\${path:+$path }\${COMP_WORDS[i]}" ;; esac
  done
  case "$path" in
${cases}
        *) opts="${words(program)}" ;;
  esac
  COMPREPLY=( $(compgen -W "$opts" -- "$cur") )
}
complete -F _switchyard switchyard
`
}

/**
 * Runs the command line `argv` (without `node` and the script) and returns the exit code; never
 * throws. Errors go to stderr through {@link Output.error}.
 */
export async function run(argv: readonly string[], options: RunOptions = {}): Promise<number> {
  const program = buildProgram(options)
  try {
    await program.parseAsync([...argv], { from: 'user' })
    return ExitCode.ok
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version "errors" are successes; commander already printed the message.
      return error.exitCode === 0 ? ExitCode.ok : ExitCode.usage
    }
    const json = program.opts<GlobalFlags>().json === true
    new Output({ json, env: options.env ?? process.env }).error(error)
    return exitCodeOf(error)
  }
}
