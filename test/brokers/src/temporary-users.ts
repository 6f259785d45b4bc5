/**
 * Users made for one test run, each with a password that exists only in that run (`sy-<uuid>`), for
 * the secret-leak scans: a password nobody else uses can only show up in captured output if the
 * code under test leaked it. `remove()` deletes the user again, with what it wrote.
 *
 * - etcd-auth: a user and a role of the same name with read/write on one key prefix, made as root.
 * - Redis: an ACL user limited to one key prefix and the commands the transport sends
 *   (`redisAclCommands`, the documented minimum), made with `ACL SETUSER`, removed with `ACL DELUSER`.
 * - rabbitmq-secure: a user with the documented minimum permissions
 *   (`rabbitmqSecureConnection.permissions`) on its vhost, made and deleted with `rabbitmqctl`.
 * - nats-auth: a user with a password, or an nkey user, added to the server's configuration and
 *   reloaded (`SIGHUP`).
 * - kafka-secure: a SCRAM-SHA-512 user, made and deleted through the Admin API
 *   (AlterUserScramCredentials) on the broker's plaintext listener.
 *
 * Passwords are never logged and never put into an error message here.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { createUser } from '@nats-io/nkeys'
import { Etcd3, Range } from 'etcd3'
import { etcdAuthConnection, rabbitmqSecureConnection } from './env.js'
import { setKafkaSecureScramUser } from './kafka-secure.js'
import { setNatsAuthRunNkey, setNatsAuthRunUser } from './nats.js'
import { within } from './proc.js'
import { ctl as rabbitmqSecureCtl } from './rabbitmq-secure.js'
import { redisAclCommands, withRedis } from './redis.js'

/** A user that lives for one test run. */
export interface TemporaryUser {
  readonly username: string
  /** Unique to this run; never printed. */
  readonly password: string
  /** Deletes the user (and what `remove` documents for its kind). Idempotent. */
  remove(): Promise<void>
}

/** A `TemporaryUser` whose `remove()` runs `remove` once. */
const temporaryUser = (username: string, password: string, remove: () => Promise<void>): TemporaryUser => {
  let removed: Promise<void> | undefined
  return {
    username,
    password,
    remove: () => {
      removed ??= remove()
      return removed
    },
  }
}

const newName = (): string => `sy-${randomBytes(5).toString('hex')}`
const newPassword = (): string => `sy-${randomUUID()}`

/** A root client of the auth-enabled etcd (`up etcd-auth` ran before). */
const etcdRoot = (): Etcd3 =>
  new Etcd3({
    hosts: etcdAuthConnection.endpoints,
    auth: { username: etcdAuthConnection.username, password: etcdAuthConnection.password },
    dialTimeout: 2000,
    defaultCallOptions: () => ({ deadline: new Date(Date.now() + 5000) }),
  })

/**
 * A user of the auth-enabled etcd that may read and write the keys under `prefix` only.
 * `remove()` deletes the user, its role and every key under `prefix`.
 */
export async function temporaryEtcdUser(prefix: string): Promise<TemporaryUser> {
  if (prefix === '') throw new Error('temporaryEtcdUser needs a key prefix')
  const username = newName()
  const password = newPassword()
  const etcd = etcdRoot()
  try {
    await within(
      10_000,
      `creating etcd user ${username}`,
      (async () => {
        await etcd.role(username).create()
        await etcd.role(username).grant({ permission: 'Readwrite', range: Range.prefix(prefix) })
        await etcd.user(username).create(password)
        await etcd.user(username).addRole(username)
      })(),
    )
  } finally {
    etcd.close()
  }
  return temporaryUser(username, password, async () => {
    const root = etcdRoot()
    try {
      await root.delete().prefix(prefix)
      await root.user(username).delete()
      await root.role(username).delete()
    } finally {
      root.close()
    }
  })
}

/**
 * An ACL user of the test Redis that may touch only the keys under `keyPrefix`, with the commands
 * of the transport's documented minimum. `remove()` deletes the user (`ACL DELUSER`) and the keys
 * under `keyPrefix`.
 */
export async function temporaryRedisUser(keyPrefix: string): Promise<TemporaryUser> {
  if (keyPrefix === '') throw new Error('temporaryRedisUser needs a key prefix')
  const username = newName()
  const password = newPassword()
  await withRedis((client) =>
    client.sendCommand([
      'ACL',
      'SETUSER',
      username,
      'reset',
      'on',
      `>${password}`,
      `~${keyPrefix}*`,
      'resetchannels',
      ...redisAclCommands,
    ]),
  )
  return temporaryUser(username, password, async () => {
    await withRedis(async (client) => {
      await client.sendCommand(['ACL', 'DELUSER', username])
      for await (const keys of client.scanIterator({ MATCH: `${keyPrefix}*`, COUNT: 500 })) {
        if (keys.length > 0) await client.unlink(keys)
      }
    })
  })
}

/**
 * A user of the TLS RabbitMQ node (`up rabbitmq-secure` ran before) with the documented minimum
 * permissions on `rabbitmqSecureConnection.vhost`, the same as the node's own test user. Like that
 * user it logs in with PLAIN over TLS and must show the test client certificate. `remove()` deletes
 * the user (its permissions go with it).
 */
export async function temporaryRabbitmqSecureUser(): Promise<TemporaryUser> {
  const username = newName()
  const password = newPassword()
  const { vhost, permissions } = rabbitmqSecureConnection
  await rabbitmqSecureCtl(['add_user', username, password])
  await rabbitmqSecureCtl([
    'set_permissions',
    '-p',
    vhost,
    username,
    permissions.configure,
    permissions.write,
    permissions.read,
  ])
  return temporaryUser(username, password, async () => {
    await rabbitmqSecureCtl(['delete_user', username])
  })
}

/**
 * A user with a password on the `nats-auth` server (`up nats-auth` ran before), without subject
 * limits like the server's own test user. Added to the server's configuration, which the server
 * reloads; `remove()` takes it out again and waits until the server refuses it.
 */
export async function temporaryNatsAuthUser(): Promise<TemporaryUser> {
  const username = newName()
  const password = newPassword()
  await setNatsAuthRunUser(username, password)
  return temporaryUser(username, password, async () => {
    await setNatsAuthRunUser(username, undefined)
  })
}

/**
 * An nkey user of the `nats-auth` server made for this run: `username` is its public key (`U…`),
 * `password` its seed (`SU…`, the secret). Only the public key goes into the server's
 * configuration; `remove()` takes it out again and waits until the server refuses the seed.
 */
export async function temporaryNatsAuthNkeyUser(): Promise<TemporaryUser> {
  const user = createUser()
  const seed = new TextDecoder().decode(user.getSeed())
  await setNatsAuthRunNkey(seed, true)
  return temporaryUser(user.getPublicKey(), seed, () => setNatsAuthRunNkey(seed, false))
}

/**
 * A SCRAM-SHA-512 user of the kafka-secure broker (`up kafka-secure` ran before), which has no
 * authorizer: like the broker's own test user it may do anything. `remove()` deletes its credential
 * and waits until the broker refuses it.
 */
export async function temporaryKafkaSecureUser(): Promise<TemporaryUser> {
  const username = newName()
  const password = newPassword()
  await setKafkaSecureScramUser(username, password)
  return temporaryUser(username, password, () => setKafkaSecureScramUser(username, undefined))
}
