#!/usr/bin/env bash
# Runs the Python tests (tools/export/tests) in tools/export/.venv, creating it if missing.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup-python.sh"
cd "$root/tools/export"
exec .venv/bin/python -m pytest -q "$@"
