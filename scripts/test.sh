#!/usr/bin/env bash
# The one command that sets up and runs every test (README: `npm test`).
# 1. installs dependencies if they are missing, 2. builds, lints and type-checks every package,
# 3. starts (or reuses) real Kafka, RabbitMQ, etcd, Redis, NATS and PostgreSQL on 127.0.0.1, 4. runs every vitest project on
# this machine's Node (the `cluster` project once, inside a private network namespace:
# scripts/in-netns.sh, so root), then again on Node 22 and Node 24 (the LTS lines), whose binaries
# scripts/node-lines.sh takes from the npm registry once and caches in ~/.cache/switchyard/node.
# SWITCHYARD_NODE_LINES="22 24" (the default) picks the extra lines; empty runs the machine's Node only.
# Works with npm 10 and 11 on a fresh clone; needs Java 17+, Maven and (for missing brokers) apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."
export TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1

if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "== installing dependencies (npm ci, npm $(npm --version))"
  npm ci --no-audit --no-fund
  touch node_modules/.package-lock.json
fi

echo "== build, lint, typecheck"
npx turbo run build lint typecheck --output-logs=errors-only
npx biome check .

# promtool validates the /metrics exposition in the health-server tests (Debian's prometheus package).
if ! command -v promtool >/dev/null 2>&1; then
  echo "== installing promtool (apt-get install prometheus)"
  if [[ $(id -u) -eq 0 ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus
  else
    echo "promtool is missing: run \`sudo apt-get install -y prometheus\`" >&2
  fi
fi

echo "== brokers"
brokers_started=$(date +%s%N)
node test/brokers/dist/cli.js up all
echo "== brokers: \`up all\` took $(( ($(date +%s%N) - brokers_started) / 1000000 )) ms"
# Start from empty brokers: topics, groups and queues left by earlier runs slow broker restarts.
node test/brokers/dist/cli.js clean all

# nftables for the network-cut scenarios, installed here: their namespace has no route out.
node test/brokers/dist/cli.js install nft

# Each Node runs every suite even if an earlier one failed, so one run reports all of them.
# Each line's output is also kept in a log, and the failing tests of every line are printed again
# at the very end, so a CI log that keeps only its tail still names them.
logs=$(mktemp -d)
failed=()
summary() { # $1: log file; prints the FAIL lines and the first error line after each
  sed 's/\x1b\[[0-9;]*m//g' "$1" | grep -a -E -A3 '^ *FAIL ' | grep -a -v -E '^ *$|^--$' | head -60 || true
}
# unit + integration on the machine's network. The cluster scenarios (three-node clusters they start
# themselves, kill -9 and network cuts of one node) run once, on this machine's Node, in a private
# network namespace: they test the brokers' failover, which does not change with the Node line, and
# take minutes each.
suites() { # $1: node binary, $2: log name, $3: 1 to run the cluster project too; then vitest args
  local node_bin=$1 name=$2 cluster=$3 ok=0
  shift 3
  "$node_bin" node_modules/vitest/vitest.mjs run --project unit --project integration "$@" 2>&1 | tee "$logs/$name.log" || ok=1
  if [[ $cluster == 1 ]]; then
    bash scripts/in-netns.sh "$node_bin" node_modules/vitest/vitest.mjs run --project cluster --passWithNoTests "$@" 2>&1 |
      tee "$logs/$name-cluster.log" || ok=1
  fi
  return $ok
}
echo "== tests on Node $(node --version) (this machine's)"
if ! suites "$(command -v node)" machine 1 "$@"; then failed+=("$(node --version)"); fi

for major in ${SWITCHYARD_NODE_LINES-22 24}; do
  node_bin=$(bash scripts/node-lines.sh "$major")
  node test/brokers/dist/cli.js clean all
  line_started=$(date +%s)
  echo "== tests on Node $("$node_bin" --version) (npm registry, $node_bin)"
  if ! suites "$node_bin" "node$major" 0 "$@"; then failed+=("$("$node_bin" --version)"); fi
  echo "== Node $major: $(( $(date +%s) - line_started )) s"
done
if [[ ${#failed[@]} -gt 0 ]]; then
  for log in "$logs"/*.log; do
    echo "== failing tests in $(basename "$log" .log):"
    summary "$log"
  done
  echo "== tests failed on Node ${failed[*]}" >&2
  exit 1
fi
