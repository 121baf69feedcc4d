"""Checkpoint files: atomic writes, optional fp16 weights, and splitting into parts small enough
for the GPU host's 16 MB return limit (`ckpt.pt.part000`, …, joined transparently on load)."""
from __future__ import annotations

import io
import os
from pathlib import Path

import torch

PART_BYTES = 15 * 1024 * 1024


def _half(obj):
    if isinstance(obj, torch.Tensor) and obj.is_floating_point():
        return obj.half()
    if isinstance(obj, dict):
        return {k: _half(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_half(v) for v in obj]
    return obj


def save_checkpoint(path: Path, state: dict, fp16: bool = False) -> None:
    """Writes `path` atomically (temporary name, then rename). fp16 halves model weights and EMA;
    the optimiser state stays fp32 so a resumed run continues exactly."""
    path = Path(path)
    if fp16:
        state = {**state, "model": _half(state["model"]), "ema": _half(state.get("ema", []))}
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    for old in path.parent.glob(path.name + ".part*"):
        old.unlink()


def checkpoint_exists(path: Path) -> bool:
    path = Path(path)
    return path.exists() or Path(str(path) + ".part000").exists()


def load_checkpoint(path: Path, map_location="cpu") -> dict:
    path = Path(path)
    if path.exists():
        state = torch.load(path, map_location=map_location, weights_only=False)
    else:
        parts = sorted(path.parent.glob(path.name + ".part*"))
        if not parts:
            raise FileNotFoundError(f"no checkpoint at {path}")
        state = torch.load(io.BytesIO(b"".join(p.read_bytes() for p in parts)), map_location=map_location,
                           weights_only=False)
    state["model"] = {k: v.float() if v.is_floating_point() else v for k, v in state["model"].items()}
    state["ema"] = [e.float() for e in state.get("ema", [])]
    return state


def split_checkpoint(path: Path, part_bytes: int = PART_BYTES) -> list[Path]:
    """Splits `path` into numbered parts of at most part_bytes and removes it."""
    path = Path(path)
    data = path.read_bytes()
    parts = []
    for i in range(0, len(data), part_bytes):
        p = Path(f"{path}.part{i // part_bytes:03d}")
        p.write_bytes(data[i:i + part_bytes])
        parts.append(p)
    path.unlink()
    return parts


def load_model(run: Path):
    """The Durian model a run directory's checkpoint (ckpt.pt or its parts) holds, on the CPU."""
    return model_from_state(load_checkpoint(Path(run) / "ckpt.pt"))


def model_from_state(state: dict):
    """The Durian model of a loaded checkpoint, on the CPU; nets a slim file left out get the
    config's seeded init, as the run itself had them."""
    from .components import Durian
    from .config import TrainConfig

    cfg = TrainConfig.from_json(state["config"])
    torch.manual_seed(cfg.seed)
    model = Durian(cfg)
    restore_weights(model, state)
    return model


def trained_nets(model, progress: dict) -> list[str]:
    """The top-level nets (vae, parser, unet, …) that some stage with progress > 0 has trained."""
    ids = {id(p) for stage, steps in progress.items() if steps > 0 for p in model.trainable(stage)}
    return sorted({n.split(".")[0] for n, p in model.named_parameters() if id(p) in ids})


def restore_weights(model, state: dict) -> None:
    """Loads a checkpoint's weights into `model`. A checkpoint that lists `nets` (a slim file written
    with only the trained nets) holds those nets alone; every other net keeps the init `model` was built
    with, which is what the run itself had for them (no stage had trained them)."""
    nets = state.get("nets")
    if nets is None:
        model.load_state_dict(state["model"])
        return
    missing, unexpected = model.load_state_dict(state["model"], strict=False)
    wrong = [k for k in missing if k.split(".")[0] in nets] + list(unexpected)
    if wrong:
        raise ValueError(f"checkpoint lists nets {nets} but its weights do not match the model: {wrong[:5]}")


def slim_checkpoint(run: Path, out: Path, part_bytes: int = PART_BYTES, ema: bool = False,
                    trained_only: bool = False) -> list[Path]:
    """A copy of a run's checkpoint with fp16 weights only (no optimiser, no EMA: a resumed stage
    re-warms its optimiser), split into parts — small enough to carry between machines. ema: the
    last stage's trainable weights are replaced by their EMA (for a chunk that stopped early).
    trained_only: keep only the nets some stage has trained (listed under `nets`); the others are
    the seeded init, which `restore_weights` rebuilds (a VAE-only run: 6 MB instead of 43)."""
    state = load_checkpoint(Path(run) / "ckpt.pt")
    use_ema = ema and bool(state.get("ema")) and not state.get("finished")
    if use_ema or trained_only:
        model = model_from_state(state)
        if use_ema:
            with torch.no_grad():
                for p, e in zip(model.trainable(state["stage"]), state["ema"]):
                    p.copy_(e)
            state["model"] = model.state_dict()
        if trained_only:
            nets = trained_nets(model, state["progress"])
            state["model"] = {k: v for k, v in state["model"].items() if k.split(".")[0] in nets}
            state["nets"] = nets
    slim = {k: v for k, v in state.items() if k not in ("optim", "ema")}
    slim["model"] = _half(slim["model"])
    slim["ema"] = []
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    target = out / "ckpt.pt"
    torch.save(slim, target)
    return split_checkpoint(target, part_bytes)


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(prog="python -m durian_export.checkpoint")
    ap.add_argument("command", choices=["slim"])
    ap.add_argument("--run", required=True, help="run directory holding ckpt.pt (or its parts)")
    ap.add_argument("--out", required=True, help="where to write ckpt.pt.partNNN (fp16 weights only)")
    ap.add_argument("--ema", action="store_true", help="keep the EMA of the last stage's weights, not the raw ones")
    ap.add_argument("--trained-only", action="store_true",
                    help="keep only the nets a stage has trained; the rest are rebuilt from the config's seed")
    a = ap.parse_args()
    for p in slim_checkpoint(Path(a.run), Path(a.out), ema=a.ema, trained_only=a.trained_only):
        print(p, p.stat().st_size)
