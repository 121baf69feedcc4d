#!/usr/bin/env bash
# Installs everything both halves need: npm packages (lock file, no install scripts needed),
# the TypeScript build, and the Python environment under tools/export/.venv.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if [[ ! -d node_modules || package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund
fi
npx tsc -p tsconfig.build.json
bash scripts/setup-python.sh
