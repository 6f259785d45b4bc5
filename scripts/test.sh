#!/usr/bin/env bash
# The one command that sets up and runs every test (README: `npm test`).
# 1. installs dependencies if they are missing, 2. builds, lints and type-checks every package,
# 3. starts (or reuses) real Kafka, RabbitMQ and etcd on 127.0.0.1, 4. runs every vitest project.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ ! -d node_modules || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "== installing dependencies (npm ci)"
  npm ci --no-audit --no-fund
fi

echo "== build, lint, typecheck"
npx turbo run build lint typecheck --output-logs=errors-only
npx biome check .

echo "== brokers"
node test/brokers/dist/cli.js up all

echo "== tests"
npx vitest run "$@"
