#!/usr/bin/env bash
# The one test command (npm test): sets up what is missing, then type-checks, lints, and runs jest
# and pytest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
status=0
# ts-jest transpiles file by file (isolatedModules); the whole tree is type-checked here.
npx tsc -p tsconfig.json --noEmit || status=$?
# the manifest types are generated from tools/export/durian_export/manifest.schema.json
node scripts/gen-manifest-types.js --check || status=$?
# linters: typescript-eslint (typed rules, eslint.config.mjs) and ruff (tools/export/pyproject.toml)
npm run --silent lint || status=$?
npx jest --ci || status=$?
bash scripts/test-python.sh || status=$?
exit "$status"
