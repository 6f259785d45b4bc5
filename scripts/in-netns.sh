#!/usr/bin/env bash
# Runs a command in a new, private network namespace with only its own loopback up, so that the
# network cuts of the cluster tests (nftables rules, test/brokers/src/netcut.ts) never touch the
# machine's network. The namespace ends with the command. Needs root (CI runs as root).
# Nothing outside 127.0.0.1 of the namespace is reachable from inside: install what the command
# needs first (`npm test` runs `up all` and `install nft` before).
#   bash scripts/in-netns.sh npx vitest run --project cluster
set -euo pipefail
if [[ $# -eq 0 ]]; then
  echo "usage: bash scripts/in-netns.sh <command> [args…]" >&2
  exit 2
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "in-netns.sh: a private network namespace (unshare --net) needs root; run as root or with sudo" >&2
  exit 1
fi
# The namespace the command leaves behind, so that test/brokers/src/netcut.ts can tell it is elsewhere.
SWITCHYARD_HOST_NETNS=$(readlink /proc/self/ns/net)
export SWITCHYARD_HOST_NETNS
exec unshare --net -- bash -c 'ip link set lo up && exec "$@"' in-netns "$@"
