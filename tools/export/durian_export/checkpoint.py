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


def save_parts(slim: dict, out: Path, part_bytes: int = PART_BYTES) -> list[Path]:
    """Writes a slim checkpoint as `out`/ckpt.pt.partNNN."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    target = out / "ckpt.pt"
    torch.save(slim, target)
    return split_checkpoint(target, part_bytes)


# what a checkpoint holds only to go on training, and a slim one leaves out: the optimiser, the EMA
# weights and the VAE stage's discriminator (adversary.Adversary)
TRAINING_STATE = ("optim", "ema", "adversary")


def slim_of(state: dict, model, progress: dict, **extra) -> dict:
    """`state` without its training state (TRAINING_STATE), holding `model`'s weights in fp16 for
    the nets some stage of `progress` has trained (listed under `nets`), with `extra` entries (what
    made it)."""
    kept = trained_nets(model, progress)
    slim = {k: v for k, v in state.items() if k not in TRAINING_STATE}
    slim.update(progress=progress, nets=kept, ema=[],
                model=_half({k: v for k, v in model.state_dict().items() if k.split(".")[0] in kept}), **extra)
    return slim


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


def apply_stage_ema(model, state: dict) -> bool:
    """Where the checkpoint's last stage stopped early (a chunk's deadline), its trainable weights in
    `model` become their EMA, the weights that stage trained towards (a finished stage saved its EMA
    as the weights already). True where it did."""
    if not state.get("ema") or state.get("finished"):
        return False
    with torch.no_grad():
        for p, e in zip(model.trainable(state["stage"]), state["ema"]):
            p.copy_(e.to(p.device))
    return True


def slim_checkpoint(run: Path, out: Path, part_bytes: int = PART_BYTES, ema: bool = False,
                    trained_only: bool = False) -> list[Path]:
    """A copy of a run's checkpoint with fp16 weights only (no optimiser, no EMA: a resumed stage
    re-warms its optimiser; no VAE discriminator, which is training state, not model), split into
    parts — small enough to carry between machines. ema: the
    last stage's trainable weights are replaced by their EMA (for a chunk that stopped early).
    trained_only: keep only the nets some stage has trained (listed under `nets`); the others are
    the seeded init, which `restore_weights` rebuilds (a VAE-only run: 6 MB instead of 43)."""
    state = load_checkpoint(Path(run) / "ckpt.pt")
    use_ema = ema and bool(state.get("ema")) and not state.get("finished")
    if use_ema or trained_only:
        model = model_from_state(state)
        if use_ema and apply_stage_ema(model, state):
            state["model"] = model.state_dict()
        if trained_only:
            nets = trained_nets(model, state["progress"])
            state["model"] = {k: v for k, v in state["model"].items() if k.split(".")[0] in nets}
            state["nets"] = nets
    slim = {k: v for k, v in state.items() if k not in TRAINING_STATE}
    slim["model"] = _half(slim["model"])
    slim["ema"] = []
    return save_parts(slim, out, part_bytes)


def graft_checkpoint(run: Path, donor: Path, nets: list[str], out: Path, part_bytes: int = PART_BYTES,
                     stages: list[str] = ()) -> list[Path]:
    """`run`'s checkpoint with the trained weights of `nets` taken from `donor`'s, written slim
    (fp16, trained nets only) to `out`. For a net that does not depend on the rest, e.g. the parser,
    which reads images and not latents: a run on a new latent space reuses a parser trained before
    it instead of training it again. Each grafted net must have the same shapes in both and have
    been trained in the donor. A stage that trains only grafted nets takes the donor's step count,
    so the run records that it is trained (and later slims keep it).

    `stages` grafts the weights a stage trains, where they are part of a net: `stage2` takes the
    donor's temporal layers into `run`'s UNet, e.g. a stage 2 trained on an earlier step of the same
    stage 1. Such a stage takes the donor's step count too."""
    state, other = load_checkpoint(Path(run) / "ckpt.pt"), load_checkpoint(Path(donor) / "ckpt.pt")
    model, source = model_from_state(state), model_from_state(other)
    have = trained_nets(source, other["progress"])
    mine, theirs = model.state_dict(), source.state_dict()
    for net in nets:
        if net not in have:
            raise SystemExit(f"graft: {donor} has not trained {net!r} (it trained {', '.join(have) or 'nothing'})")
        keys = [k for k in mine if k.split(".")[0] == net]
        if not keys:
            raise SystemExit(f"graft: the model has no net {net!r}")
        wrong = [k for k in keys if k not in theirs or theirs[k].shape != mine[k].shape]
        if wrong:
            raise SystemExit(f"graft: {net!r} differs in shape between the two runs ({wrong[0]}); "
                             "a net can only be grafted between models of the same config for it")
        mine.update({k: theirs[k] for k in keys})
    names = {id(p): n for n, p in model.named_parameters()}
    for stage in stages:
        if other["progress"].get(stage, 0) <= 0:
            raise SystemExit(f"graft: {donor} has not trained {stage}")
        keys = [names[id(p)] for p in model.trainable(stage)]
        wrong = [k for k in keys if theirs[k].shape != mine[k].shape]
        if wrong:
            raise SystemExit(f"graft: {stage}'s weights differ in shape between the two runs ({wrong[0]})")
        mine.update({k: theirs[k] for k in keys})
    model.load_state_dict(mine)
    progress = dict(state["progress"])
    progress.update({stage: other["progress"][stage] for stage in stages})
    for stage, steps in other["progress"].items():
        trains = set(trained_nets(model, {stage: 1}))  # the nets this stage trains
        if steps > 0 and trains and trains <= set(nets):
            progress[stage] = steps
    slim = slim_of(state, model, progress,
                   grafted={net: {"from": str(donor), "progress": other["progress"]} for net in (*nets, *stages)})
    return save_parts(slim, out, part_bytes)


def unstage_checkpoint(run: Path, stages: list[str], out: Path, part_bytes: int = PART_BYTES) -> list[Path]:
    """`run`'s checkpoint with the weights `stages` train back at the config's seeded init and those
    stages' step counts at 0, written slim to `out`: e.g. the stage-1 model inside a stage-2 run (its
    temporal layers act on a single frame too, so stage 1 must not continue with trained ones)."""
    state = load_checkpoint(Path(run) / "ckpt.pt")
    model = model_from_state(state)
    fresh = model_from_state({**state, "model": {}, "nets": []})  # every net at the seeded init
    init = dict(fresh.named_parameters())
    progress = dict(state["progress"])
    with torch.no_grad():
        for stage in stages:
            if stage not in progress:
                raise SystemExit(f"unstage: no stage {stage!r}; stages: {', '.join(progress)}")
            trained = {id(q) for q in model.trainable(stage)}
            for n, p in model.named_parameters():
                if id(p) in trained:
                    p.copy_(init[n])
            progress[stage] = 0
    return save_parts(slim_of(state, model, progress, unstaged={"from": str(run), "stages": list(stages)}), out,
                      part_bytes)


UNET_NETS = ("unet", "prnet", "arnet")  # the nets of the UNet layout (denoiser and ReferenceNets)


def grow_checkpoint(run: Path, out: Path, unet_blocks: int | None = None, part_bytes: int = PART_BYTES,
                    vae_decoder_blocks: int | None = None) -> list[Path]:
    """`run`'s model grown, written slim (fp16, trained nets only) to `out`, computing the same
    function as before: `unet_blocks` blocks a level in the denoiser and both ReferenceNets,
    `vae_decoder_blocks` ResBlocks a level in the VAE's decoder, or both.

    Each level's existing blocks keep their weights and places; each new block comes after them
    with its residual branches' last layers zeroed (the ResBlock's second convolution, the spatial
    attention's output projection and feed-forward's last layer; its temporal output projection is
    zero from the init), so it passes its input through unchanged (a new block's input and output
    have the same channels, so its skip is the identity). The denoiser's blocks and the
    ReferenceNets' grow alike, so every old block still attends to the reference tokens it was
    trained with. Training then resumes on the larger model from where the smaller one stood (with
    a fresh optimiser, as after a slim), instead of starting over: a test of whether capacity, not
    steps, limits the model. The decoder grows without touching the encoder, so the latent space the
    denoiser was trained on stays as it was."""
    from .components import Durian
    from .config import TrainConfig
    from .models.vae import decoder_blocks, decoder_layout

    if not unet_blocks and not vae_decoder_blocks:
        raise SystemExit("grow: ask for --unet-blocks, --vae-decoder-blocks or both")
    state = load_checkpoint(Path(run) / "ckpt.pt")
    old = model_from_state(state)
    have, have_dec = old.cfg.model.unet_blocks, decoder_blocks(old.cfg.model)
    if unet_blocks is not None and unet_blocks <= have:
        raise SystemExit(f"grow: the model already has {have} block(s) a level; ask for more than that")
    if vae_decoder_blocks is not None and vae_decoder_blocks <= have_dec:
        raise SystemExit(f"grow: the VAE decoder already has {have_dec} block(s) a level; ask for more than that")
    cfg = TrainConfig.from_json(state["config"])
    cfg.model.unet_blocks = unet_blocks or have
    cfg.model.vae_decoder_blocks = vae_decoder_blocks or cfg.model.vae_decoder_blocks
    torch.manual_seed(cfg.seed)
    model = Durian(cfg)
    # the decoder's body is one flat Sequential: an old layer's index moves to where its (level,
    # block) sits in the deeper layout
    levels = len(cfg.model.vae_channels)
    new_index = {lb: i for i, lb in enumerate(decoder_layout(levels, decoder_blocks(cfg.model)))}
    moved = {i: new_index[lb] for i, lb in enumerate(decoder_layout(levels, have_dec))}
    prefix = "vae.decoder.body."

    def place(k: str) -> str:
        if not k.startswith(prefix):
            return k
        index, rest = k[len(prefix):].split(".", 1)
        return f"{prefix}{moved[int(index)]}.{rest}"

    mine, theirs = model.state_dict(), old.state_dict()
    for k, v in theirs.items():
        to = place(k)
        if to not in mine or mine[to].shape != v.shape:  # the layouts differ in added blocks only
            raise SystemExit(f"grow: {k} has no place of the same shape in the grown model")
        mine[to] = v
    model.load_state_dict(mine)
    with torch.no_grad():
        if unet_blocks:
            for net in UNET_NETS:
                for side in (getattr(model, net).down, getattr(model, net).up):
                    for blocks in side:
                        for blk in list(blocks)[have:]:
                            for layer in (blk.res.conv2, blk.spatial.attn.to_out, blk.spatial.ff[-1]):
                                for p in layer.parameters():
                                    p.zero_()
                            if blk.temporal is not None:
                                for p in blk.temporal.attn.to_out.parameters():
                                    p.zero_()
        if vae_decoder_blocks:
            for (_, b), layer in zip(decoder_layout(levels, vae_decoder_blocks), model.vae.decoder.body):
                if b >= have_dec:
                    for p in layer.conv2.parameters():
                        p.zero_()
    grown = {}
    if unet_blocks:
        grown["unet_blocks"] = [have, unet_blocks]
    if vae_decoder_blocks:
        grown["vae_decoder_blocks"] = [have_dec, vae_decoder_blocks]
    slim = slim_of(state, model, state["progress"], config=cfg.to_json(), grown={"from": str(run), **grown})
    return save_parts(slim, out, part_bytes)


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(prog="python -m durian_export.checkpoint",
                                 description="slim: a run's checkpoint as fp16 parts to carry; graft: a run's "
                                             "checkpoint with some nets' trained weights taken from another run; "
                                             "grow: a run's model with more blocks a level (UNet layout, VAE decoder), the same function; "
                                             "unstage: a run's checkpoint with some stages' weights back at their init")
    ap.add_argument("command", choices=["slim", "graft", "grow", "unstage"])
    ap.add_argument("--run", required=True, help="run directory holding ckpt.pt (or its parts)")
    ap.add_argument("--out", required=True, help="where to write ckpt.pt.partNNN (fp16 weights only)")
    ap.add_argument("--ema", action="store_true", help="slim: keep the EMA of the last stage's weights, not the raw ones")
    ap.add_argument("--trained-only", action="store_true",
                    help="slim: keep only the nets a stage has trained; the rest are rebuilt from the config's seed")
    ap.add_argument("--from", dest="donor", help="graft: the run directory the nets come from")
    ap.add_argument("--nets", help="graft: comma-separated top-level nets to take, e.g. parser")
    ap.add_argument("--stages", help="graft: comma-separated stages whose trained weights to take, e.g. stage2 "
                                     "(the temporal layers); unstage: the stages to undo")
    ap.add_argument("--unet-blocks", type=int, help="grow: blocks a level in the UNet and the ReferenceNets")
    ap.add_argument("--vae-decoder-blocks", type=int, help="grow: ResBlocks a level in the VAE decoder")
    a = ap.parse_args()
    if a.command == "grow":
        if not a.unet_blocks and not a.vae_decoder_blocks:
            ap.error("grow needs --unet-blocks, --vae-decoder-blocks or both")
        parts = grow_checkpoint(Path(a.run), Path(a.out), a.unet_blocks, vae_decoder_blocks=a.vae_decoder_blocks)
    elif a.command == "unstage":
        if not a.stages:
            ap.error("unstage needs --stages")
        parts = unstage_checkpoint(Path(a.run), a.stages.split(","), Path(a.out))
    elif a.command == "graft":
        if not a.donor or not (a.nets or a.stages):
            ap.error("graft needs --from, and --nets or --stages")
        parts = graft_checkpoint(Path(a.run), Path(a.donor), a.nets.split(",") if a.nets else [], Path(a.out),
                                 stages=a.stages.split(",") if a.stages else [])
    else:
        parts = slim_checkpoint(Path(a.run), Path(a.out), ema=a.ema, trained_only=a.trained_only)
    for p in parts:
        print(p, p.stat().st_size)
