#!/usr/bin/env bash
# Creates tools/export/.venv with the pinned dependencies of tools/export/pyproject.toml.
# Idempotent: a stamp holding the sha256 of pyproject.toml skips the install when nothing changed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
proj="$root/tools/export"
venv="$proj/.venv"
stamp="$venv/.durian-stamp"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null 2>&1 || python=python3

want="$(sha256sum "$proj/pyproject.toml" | cut -d' ' -f1)"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi

echo "setup-python: creating $venv" >&2
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
# torch first and alone, so the resolver takes the local CPU wheel of exactly this version.
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "torch==2.13.0"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$proj[test]"
echo "$want" > "$stamp"
