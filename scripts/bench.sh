#!/usr/bin/env bash
# `npm run bench [-- memory|kafka|rabbitmq|nats ...] [-- --quick] [other bench/src/main.ts flags]`
# `npm run bench:request-reply [-- <transports>]` is `npm run bench -- --only request-reply`.
#
# Builds what the benchmark needs (turbo caches unchanged packages), resolves the brokers' own tools
# through Maven (Kafka's kafka-tools, RabbitMQ PerfTest) on first use, then runs each transport:
# memory on its own, Kafka and RabbitMQ each under the brokers lock (/tmp/switchyard-brokers.lock),
# bringing the broker up through the broker manager first, so no broker test runs at the same time.
# A full run (no transport named, no --quick, no --only) writes BENCHMARKS.md at the repository root.
# Not part of the tests.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

lock=/tmp/switchyard-brokers.lock
# Same default as test/brokers/src/env.ts: broker state is per user, shared by every clone.
state="${SWITCHYARD_BROKERS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/switchyard/brokers}"
tools="$state/bench-tools"

transports=()
flags=()
full=1
for arg in "$@"; do
  case "$arg" in
    memory | kafka | rabbitmq | redis | nats) transports+=("$arg") ;;
    all) transports=(memory kafka rabbitmq redis nats) ;;
    --quick | --only) full=0; flags+=("$arg") ;;
    *) flags+=("$arg") ;;
  esac
done
if [ "${#transports[@]}" -eq 0 ]; then
  transports=(memory kafka rabbitmq nats)
else
  full=0
fi
needs_brokers=0
for t in "${transports[@]}"; do
  if [ "$t" != memory ]; then needs_brokers=1; fi
done

log() { printf '%s bench.sh: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

if [ ! -d node_modules ]; then
  log 'installing workspace dependencies (npm ci)'
  # npm 11 may refuse a lock that lacks other platforms' optional binaries (see scripts/test.sh).
  npm ci --no-audit --no-fund || npm install --no-audit --no-fund
fi
if [ ! -f bench/node_modules/hdr-histogram-js/package.json ]; then
  log 'installing bench dependencies (npm ci --prefix bench)'
  npm ci --prefix bench --no-audit --no-fund
fi

log 'building packages and the benchmark'
if ! npx turbo run build --output-logs=errors-only \
  --filter=@switchyard/core --filter=@switchyard/memory --filter=@switchyard/kafka \
  --filter=@switchyard/rabbitmq --filter=@switchyard/redis --filter=@switchyard/nats --filter=@switchyard/brokers \
  --filter=@switchyard/otel --filter=@switchyard/postgres; then
  # A package being edited may not build for a moment; measure its last build if there is one.
  for pkg in packages/core packages/memory packages/kafka packages/rabbitmq packages/redis packages/nats packages/otel packages/postgres test/brokers; do
    if [ ! -f "$pkg/dist/index.js" ]; then
      log "build failed and $pkg/dist is missing"
      exit 1
    fi
  done
  log 'build failed; measuring the packages as last built'
fi
npx tsc -p bench/tsconfig.build.json

# Resolves one Maven dependency set into $tools/<name> once (Maven caches the jars in ~/.m2).
resolve_tools() {
  local name="$1"
  if [ -f "$tools/$name/.complete" ]; then return; fi
  log "resolving $name through Maven into $tools/$name"
  rm -rf "${tools:?}/$name"
  mkdir -p "$tools/$name"
  timeout 600 mvn -B -q -f "bench/tools/$name/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$tools/$name"
  date -u +%FT%TZ > "$tools/$name/.complete"
}

# The brokers' tools run as ceilings, which main.js skips with --only, --no-ceilings (and --tools-only needs them).
ceilings=1
for f in "${flags[@]}"; do
  case "$f" in --only | --no-ceilings) ceilings=0 ;; esac
done
if [ "$needs_brokers" -eq 1 ] && [ "$ceilings" -eq 1 ]; then
  resolve_tools kafka-tools
  resolve_tools perf-test
fi

# Each transport's figures are kept (bench/dist is not committed), so the tables can be printed or
# BENCHMARKS.md rewritten again without measuring: node bench/dist/main.js --merge bench/dist/results/*.json --write
results="$root/bench/dist/results"
rm -rf "$results"
mkdir -p "$results"
saved=()
for t in "${transports[@]}"; do
  out="$results/$t.json"
  if [ "$t" = memory ]; then
    timeout 900 node bench/dist/main.js "$t" --save "$out" "${flags[@]}"
  else
    # One hold of the brokers lock per broker: bring it up (or reuse it), then measure it.
    log "waiting for the brokers lock to run $t"
    flock "$lock" bash -c 'node test/brokers/dist/cli.js up "$1" >&2 && shift && exec "$@"' _ "$t" \
      timeout 900 node bench/dist/main.js "$t" --save "$out" "${flags[@]}"
  fi
  saved+=("$out")
done

# The two Kafka clients side by side (bench/src/kafka-drivers.ts), on Node 22: @platformatic/kafka
# needs it. Skipped with --only, or with SWITCHYARD_BENCH_KAFKA_DRIVERS=0.
only=0
quick=()
for f in "${flags[@]}"; do
  if [ "$f" = --only ]; then only=1; fi
  if [ "$f" = --quick ]; then quick=(--quick); fi
done
if [[ " ${transports[*]} " == *" kafka "* && "$only" -eq 0 && "${SWITCHYARD_BENCH_KAFKA_DRIVERS:-1}" != 0 ]]; then
  node22=$(bash scripts/node-lines.sh 22)
  log "waiting for the brokers lock to run the Kafka clients side by side (Node $("$node22" --version))"
  flock "$lock" bash -c 'node test/brokers/dist/cli.js up kafka >&2 && shift && exec "$@"' _ \
    timeout 1800 "$node22" bench/dist/kafka-drivers.js --save "$results/kafka-drivers.json" "${quick[@]}"
fi

# Transactional outbox throughput (bench/src/outbox.ts): writes into the outbox table, the relay,
# and direct publishBatch as its ceiling, on every transport of this run, against the broker
# manager's PostgreSQL. Skipped with --only, or with SWITCHYARD_BENCH_OUTBOX=0. Printed, not merged:
# BENCHMARKS.md keeps its table by hand ("Transactional outbox").
if [[ "$only" -eq 0 && "${SWITCHYARD_BENCH_OUTBOX:-1}" != 0 ]]; then
  log "waiting for the brokers lock to run the outbox relay on ${transports[*]}"
  flock "$lock" bash -c 'for t in postgres "${@:2:$1}"; do [ "$t" = memory ] || node test/brokers/dist/cli.js up "$t" >&2; done; shift "$(($1 + 1))"; exec "$@"' \
    _ "${#transports[@]}" "${transports[@]}" timeout 900 node bench/dist/outbox.js "${transports[@]}"
fi

write=()
if [ "$full" -eq 1 ]; then write=(--write); fi
log 'all transports measured'
node bench/dist/main.js --merge "${saved[@]}" "${write[@]}"
