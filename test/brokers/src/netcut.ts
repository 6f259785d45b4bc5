/**
 * Network cuts of one cluster node, for the partition scenarios of the fault-tolerance tests.
 *
 * Every node of `kafka-cluster` and `rabbitmq-cluster` is started in its own cgroup (v2),
 * `switchyard-<cluster>-<id>`, so that its sockets can be told apart from the other nodes' although
 * all of them talk over 127.0.0.1. A cut is an nftables table on the output hook that drops every
 * packet a socket of that cgroup sends and every packet sent to the node's listening ports: the
 * node can reach nobody and nobody can reach it (a silent drop, as on a real partition: no reset,
 * connections hang until their peers' timeouts notice). Healing deletes the table.
 *
 * The rules are only ever applied inside a private network namespace (the cluster tests run in one:
 * `scripts/in-netns.sh`, which `npm test` uses), never to the machine's own network: a cut refuses,
 * with a `BrokerError` saying how to run it, when the process is in the machine's namespace.
 * Needs root (cgroups, nftables) and the `nft` command (installed with apt-get by
 * `switchyard-brokers install nft`, before entering the namespace, which has no route out).
 */
import { existsSync, mkdirSync, readFileSync, readlinkSync, rmdirSync } from 'node:fs'
import { join } from 'node:path'
import { BrokerError } from './broker.js'
import { aptInstall } from './install.js'
import { findCommand, run } from './proc.js'

type Cluster = 'kafka-cluster' | 'rabbitmq-cluster'

/** The nftables table a cut lives in (one cut at a time per namespace). */
const table = 'switchyard_cut'

/** Where the unified (v2) cgroup hierarchy is mounted, if it is (pure v2 or hybrid). */
const cgroup2Root = (): string | undefined => {
  try {
    for (const line of readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
      const [, mountPoint, type] = line.split(' ')
      if (type === 'cgroup2' && mountPoint !== undefined) return mountPoint
    }
  } catch {
    // no /proc: no cgroups either
  }
  return undefined
}

/** The cgroup name of one node, directly under the v2 root (nftables matches it at level 1). */
const cgroupName = (cluster: Cluster, id: number): string => `switchyard-${cluster}-${id}`

/**
 * The command line that starts a node inside its own cgroup: a shell moves itself into the cgroup
 * and then execs the node, so every socket the node opens belongs to it. Without a writable cgroup
 * v2 hierarchy (not root, no cgroup2) the node starts as it is and {@link cutNode} will say why it
 * cannot cut it.
 */
export const inNodeCgroup = (
  cluster: Cluster,
  id: number,
  command: string,
  args: readonly string[],
): { command: string; args: string[] } => {
  const root = cgroup2Root()
  if (root === undefined || process.getuid?.() !== 0) return { command, args: [...args] }
  const dir = join(root, cgroupName(cluster, id))
  try {
    mkdirSync(dir, { recursive: true })
  } catch {
    return { command, args: [...args] }
  }
  const script = 'echo $$ > "$1/cgroup.procs" || exit 97; shift; exec "$@"'
  return { command: '/bin/sh', args: ['-c', script, 'sh', dir, command, ...args] }
}

/** Removes the (empty) cgroups of a stopped cluster; a cgroup still holding a process is kept. */
export const removeNodeCgroups = (cluster: Cluster, ids: readonly number[]): void => {
  const root = cgroup2Root()
  if (root === undefined) return
  for (const id of ids) {
    try {
      rmdirSync(join(root, cgroupName(cluster, id)))
    } catch {
      // missing, or a process still runs in it
    }
  }
}

/**
 * Whether this process runs in a network namespace other than the machine's: the one
 * `scripts/in-netns.sh` was started from (it passes it on as `SWITCHYARD_HOST_NETNS`), and pid 1's
 * where that can be read.
 */
export const inPrivateNetns = (): boolean => {
  const link = (path: string): string | undefined => {
    try {
      return readlinkSync(path)
    } catch {
      return undefined
    }
  }
  const own = link('/proc/self/ns/net')
  const host = process.env.SWITCHYARD_HOST_NETNS
  if (own === undefined || host === undefined || host === '' || own === host) return false
  const init = link('/proc/1/ns/net')
  return init === undefined || init !== own
}

/** Installs nftables with apt-get when `nft` is missing (run outside the test namespace). */
export const ensureNft = (): Promise<void> => aptInstall('kafka-cluster', 'nft', ['nftables'])

const nft = async (cluster: Cluster, script: string): Promise<void> => {
  // nft resolves a cgroup path under /sys/fs/cgroup; on a hybrid hierarchy v2 is mounted elsewhere,
  // so the rules are loaded from a private mount namespace with v2 mounted there.
  const root = cgroup2Root()
  const load =
    root === '/sys/fs/cgroup' ? 'exec nft -f -' : 'mount -t cgroup2 none /sys/fs/cgroup && exec nft -f -'
  const result = await run('unshare', ['--mount', '--propagation', 'private', '/bin/sh', '-c', load], {
    timeoutMs: 20_000,
    input: script,
  })
  if (result.code !== 0)
    throw new BrokerError(cluster, `nft failed (exit ${result.code}): ${result.stderr.trim()}\n${script}`)
}

/**
 * Cuts node `id` of `cluster` off the network: drops what its sockets send and what is sent to
 * `ports` (its listening ports). Resolves once the rules are in place.
 */
export const cutNode = async (cluster: Cluster, id: number, ports: readonly number[]): Promise<void> => {
  if (!inPrivateNetns()) {
    throw new BrokerError(
      cluster,
      'a network cut is only applied inside a private network namespace, never to the machine: run the ' +
        'cluster tests through `bash scripts/in-netns.sh npx vitest run --project cluster` (as root), as `npm test` does.',
    )
  }
  if (findCommand('nft') === undefined)
    throw new BrokerError(
      cluster,
      '`nft` is missing: run `switchyard-brokers install nft` (outside the namespace) first.',
    )
  const root = cgroup2Root()
  const dir = root === undefined ? undefined : join(root, cgroupName(cluster, id))
  if (dir === undefined || !existsSync(dir))
    throw new BrokerError(
      cluster,
      `node ${id} does not run in its own cgroup (${dir ?? 'no cgroup v2 hierarchy'}): start the cluster as root so it can be cut.`,
    )
  await healCut(cluster)
  await nft(
    cluster,
    `table inet ${table} {
  chain out {
    type filter hook output priority 0; policy accept;
    socket cgroupv2 level 1 "${cgroupName(cluster, id)}" drop
    tcp dport { ${ports.join(', ')} } drop
  }
}
`,
  )
}

/** Removes any cut in this namespace (a no-op without one). */
export const healCut = async (cluster: Cluster): Promise<void> => {
  if (!inPrivateNetns() || findCommand('nft') === undefined) return
  await nft(cluster, `table inet ${table}\ndelete table inet ${table}\n`)
}
