"""torch.compile's cache artifacts carried between training calls (a GPU host's calls start cold)."""
from __future__ import annotations

import sys
from pathlib import Path

import torch


def load_compile_cache(path: Path) -> bool:
    """torch.compile's cache artifacts (PyTorch's "mega-cache": Inductor, Triton, AOTAutograd) from
    `path`, before anything compiles; False where there is none or it does not load (a cache from
    another PyTorch or GPU is only a miss)."""
    if not path.is_file():
        return False
    try:
        return torch.compiler.load_cache_artifacts(path.read_bytes()) is not None
    except Exception as error:  # noqa: BLE001 — a stale cache must not stop training
        print(f"compile cache {path} not loaded: {error}", file=sys.stderr)
        return False


def save_compile_cache(path: Path) -> int:
    """Writes this process's compile artifacts (those loaded included) to `path`, atomically; their
    size in bytes, 0 when there are none (the file is then left as it was)."""
    artifacts = torch.compiler.save_cache_artifacts()
    if not artifacts or not artifacts[0]:
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_bytes(artifacts[0])
    tmp.replace(path)
    return len(artifacts[0])
