"""The product CLI (`node bin/durian.js`) as the Python tools run it: the benchmark and the
annotator go through the real TypeScript path, not a second implementation."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]  # the repository: tools/export/durian_export/cli.py


def cli_available() -> bool:
    """node is on PATH and the CLI is built (`npm run build` → dist/)."""
    return (ROOT / "dist" / "cli" / "index.js").exists() and shutil.which("node") is not None


def run_durian(args: list[str]) -> subprocess.CompletedProcess[str]:
    """`durian ARGS…`, output captured as text, without colour codes."""
    return subprocess.run(["node", str(ROOT / "bin" / "durian.js"), *args], capture_output=True, text=True,
                          env={**os.environ, "FORCE_COLOR": "0"})


def start_durian(args: list[str]) -> subprocess.Popen[str]:
    """`durian ARGS…` started in the background (stdout and stderr piped as text); `.communicate()` ends it."""
    return subprocess.Popen(["node", str(ROOT / "bin" / "durian.js"), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "FORCE_COLOR": "0"})
