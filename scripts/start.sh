#!/usr/bin/env bash
# The README's main command (`npm start`): runs the example talent marketplace — every service in
# ONE process on the in-memory transport, no broker needed — prints what flows through it, and
# exits 0 after a bounded run (DEMO_REGISTRATIONS, default 300).
# 1. installs dependencies if they are missing, 2. builds every package, 3. runs the demo.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ ! -d node_modules ]]; then
  echo "== installing dependencies (npm ci)"
  npm ci --no-audit --no-fund
fi

echo "== building"
npx turbo run build --output-logs=errors-only

echo "== running examples/talent-marketplace (all services, one process)"
# Memory on purpose, whatever the shell says: `npm start` must never need a broker. To run the same
# process on a broker: TRANSPORT=kafka node examples/talent-marketplace/dist/all-in-one.js
exec env -u SWITCHYARD_TRANSPORT_KEY -u SWITCHYARD_ETCD_ENDPOINTS TRANSPORT=memory \
  node examples/talent-marketplace/dist/all-in-one.js
