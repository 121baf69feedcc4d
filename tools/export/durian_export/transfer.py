"""Host → device copies that do not make the host wait.

A plain `tensor.to("cuda")` of a CPU tensor, or indexing a CUDA tensor with a Python list (PyTorch
turns the list into a CPU index tensor and copies it), waits until the current stream has finished
everything queued on it. In the training step that leaves the device idle while the host catches up
and then launches the next work (`bench_train --sync-debug` counts such waits). Going through pinned
memory with `non_blocking=True` queues the copy on the stream instead; the caching host allocator
keeps the pinned block until the copy has run.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch


def to_device(t: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """`t` (on the CPU) on `device`, queued rather than waited for when `device` is a GPU."""
    device = torch.device(device)
    if device.type != "cuda":
        return t.to(device)
    return t.pin_memory().to(device, non_blocking=True)


def index(rows: Sequence[int], device: torch.device | str) -> torch.Tensor:
    """A list of row numbers as an int64 index tensor on `device` (see `to_device`)."""
    return to_device(torch.tensor(list(rows), dtype=torch.long), device)
