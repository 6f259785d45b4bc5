/**
 * `SecretScan`: collects what a transport shows a user — errors (with their context and causes),
 * `health()`, every `status$` value, log entries, event payloads, pages and whatever the process
 * writes to stdout/stderr — as text, so a test can assert that a password appears nowhere.
 */
import { inspect } from 'node:util'
import type { Transport } from '@switchyard/core'
import { expect } from 'vitest'

/** Everything captured so far, as one text to search. */
export class SecretScan {
  readonly #seen: string[] = []

  /**
   * Records a value: an error as name, message, JSON (context included) and `util.inspect` (its
   * `cause` chain, nested errors and own fields), anything else as JSON and `util.inspect`.
   */
  readonly capture = (value: unknown): void => {
    const deep = inspect(value, { depth: 8, breakLength: Number.POSITIVE_INFINITY })
    this.#seen.push(
      value instanceof Error
        ? `${value.name}: ${value.message} ${JSON.stringify(value)} ${deep}`
        : `${JSON.stringify(value)} ${deep}`,
    )
  }

  /** Records text as it is (a page, a command's output). */
  readonly captureText = (text: string): void => {
    this.#seen.push(text)
  }

  /**
   * Records everything written to `process.stdout`, `process.stderr` and the `console` methods
   * from now on (still passing it through), until the returned function is called.
   */
  captureOutput(): () => void {
    const restore: (() => void)[] = []
    for (const stream of [process.stdout, process.stderr]) {
      const write = stream.write
      stream.write = ((chunk: unknown, ...rest: unknown[]) => {
        this.#seen.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'))
        return (write as (...args: unknown[]) => boolean).call(stream, chunk, ...rest)
      }) as typeof stream.write
      restore.push(() => {
        stream.write = write
      })
    }
    for (const level of ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const) {
      const original = console[level]
      console[level] = (...args: unknown[]) => {
        this.#seen.push(args.map((a) => inspect(a, { depth: 8 })).join(' '))
        original.apply(console, args)
      }
      restore.push(() => {
        console[level] = original
      })
    }
    return () => {
      for (const undo of restore.splice(0).reverse()) undo()
    }
  }

  /** How many values were captured (a scan of nothing proves nothing). */
  get count(): number {
    return this.#seen.length
  }

  get text(): string {
    return this.#seen.join('\n')
  }

  /**
   * Where each of the named `secrets` was captured: one line per capture that holds one, naming the
   * secret and showing the capture's first line and the text around the find with every secret
   * masked, so a failing assertion says where the leak is without printing the secret. Empty when
   * nothing leaked. Empty secrets are ignored.
   *
   * @example
   * expect(scan.leaks({ 'etcd password': password })).toEqual([])
   */
  leaks(secrets: Readonly<Record<string, string>>): string[] {
    const named = Object.entries(secrets).filter(([, value]) => value !== '')
    const mask = (text: string): string =>
      named.reduce((masked, [name, value]) => masked.replaceAll(value, `<${name}>`), text)
    const found: string[] = []
    this.#seen.forEach((captured, index) => {
      for (const [name, value] of named) {
        const at = captured.indexOf(value)
        if (at < 0) continue
        const first = captured.split('\n', 1)[0] ?? ''
        const around = captured.slice(Math.max(0, at - 80), at + value.length + 80)
        found.push(`${name} in capture #${index} (${mask(first).slice(0, 120)}): …${mask(around)}…`)
      }
    })
    return found
  }

  /**
   * Connects `transport` (a failure is captured, not thrown), reads `health()`, closes it, and captures
   * every `status$` value and error meanwhile.
   */
  async exercise(transport: Transport): Promise<void> {
    const status = transport.status$.subscribe({ next: this.capture, error: this.capture })
    try {
      await transport.connect().catch(this.capture)
      this.capture(await transport.health())
    } finally {
      await transport.close({ drain: false }).catch(this.capture)
      status.unsubscribe()
    }
  }
}

/**
 * Connects a transport with the right password and one with a wrong one (each made by `make`),
 * capturing what each shows and what the process writes meanwhile, and asserts that the right one
 * came `up`, the wrong one was an `AuthenticationError`, and none of `secrets` (the two passwords
 * and any other, such as a line of a private key) shows anywhere.
 *
 * @example
 * await expectNoSecretShown((password) => new RedisTransport({ url, username, password }), {
 *   right: user.password,
 *   wrong: `wrong-${randomUUID()}`,
 * })
 */
export async function expectNoSecretShown(
  make: (password: string) => Transport,
  secrets: {
    readonly right: string
    readonly wrong: string
    readonly others?: Readonly<Record<string, string>>
  },
): Promise<void> {
  const scan = new SecretScan()
  const stopOutput = scan.captureOutput()
  try {
    for (const password of [secrets.right, secrets.wrong]) await scan.exercise(make(password))
  } finally {
    stopOutput()
  }
  expect(scan.count).toBeGreaterThan(3)
  expect(scan.text).toContain('"status":"up"')
  expect(scan.text).toContain('AuthenticationError')
  expect(
    scan.leaks({ 'the password': secrets.right, 'the wrong password': secrets.wrong, ...secrets.others }),
  ).toEqual([])
}

/**
 * Makes a transport, connects it and closes it: what `connect()` threw (`undefined` when it
 * connected) and how long the attempt took, for tests that bound how fast a mistake is reported.
 */
export async function connectOutcome(
  make: () => Transport | Promise<Transport>,
): Promise<{ readonly error: unknown; readonly ms: number }> {
  const began = Date.now()
  let transport: Transport | undefined
  try {
    transport = await make()
    await transport.connect()
    return { error: undefined, ms: Date.now() - began }
  } catch (error) {
    return { error, ms: Date.now() - began }
  } finally {
    await transport?.close({ drain: false }).catch(() => undefined)
  }
}
