#!/usr/bin/env bash
# The one test command (npm test): sets up what is missing, then runs jest and pytest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
status=0
# ts-jest transpiles file by file (isolatedModules); the whole tree is type-checked here.
npx tsc -p tsconfig.json --noEmit || status=$?
npx jest --ci || status=$?
bash scripts/test-python.sh || status=$?
exit "$status"
