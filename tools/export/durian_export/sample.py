"""The PyTorch reference sampler (DDIM + classifier-free guidance + overlapping temporal windows,
reference features computed once, composition and interpolation) — the algorithm the TypeScript
pipeline implements, and its speed baseline. Also the periodic sample sheets of training.

python -m durian_export.sample --checkpoint RUN_DIR --out out.png [--steps 20 --frames 16 ...]
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import torch

from .components import Durian
from .keypoint_image import render_keypoints
from .schedulers import DDIMSampler, correlate_frames
from .synth import catalog, render, sample_attributes, sample_identities, sample_motion, with_styles

CLS = catalog.CLS


@dataclass
class Case:
    """One generation request, images in [0, 1]: portrait [1, 3, H, W] and its mask, attribute
    references (image, mask) each [1, ...], pose images [F, 3, H, W], members [G, A], weights [F, G]."""

    portrait: torch.Tensor
    portrait_mask: torch.Tensor
    attrs: list[tuple[torch.Tensor, torch.Tensor]]
    pose: torch.Tensor
    members: torch.Tensor
    weights: torch.Tensor
    target: torch.Tensor | None = None  # ground truth [F, 3, H, W] when known


def window_starts(frames: int, window: int, overlap: int) -> list[int]:
    """Start frames of overlapping windows covering 0..frames-1 (the last one flush with the end)."""
    if frames <= window:
        return [0]
    stride = window - overlap
    if stride <= 0:
        raise ValueError(f"overlap {overlap} must be smaller than window {window}")
    starts = list(range(0, frames - window + 1, stride))
    if starts[-1] + window < frames:
        starts.append(frames - window)
    return starts


def window_weights(window: int, overlap: int) -> torch.Tensor:
    """Blend weight of each position in a window: ramps over the overlap at both ends."""
    p = torch.arange(window, dtype=torch.float32)
    return torch.minimum(torch.ones(window), torch.minimum((p + 1) / (overlap + 1), (window - p) / (overlap + 1)))


@torch.no_grad()
def sample_video(model: Durian, case: Case, steps: int = 20, guidance_scale: float = 2.5, seed: int = 0,
                 latents: torch.Tensor | None = None, window: int = 16, overlap: int = 4, on_step=None,
                 timings: dict | None = None, eta: float = 0.0, windows_per_call: int = 1, denoise=None,
                 noise_correlation: float = 0.0, on_latents=None) -> torch.Tensor:
    """Generates frames [F, 3, H, W] in [0, 1] for one case; per-stage seconds go into `timings`.
    `eta` > 0: DDIM with fresh noise at every step (1 = the DDPM posterior's variance), drawn from
    the seed's generator after the initial latents. The pose features are made once, before the
    loop. `windows_per_call` > 1 runs that many of a step's temporal windows in one UNet call (batch
    entries cond, uncond, cond, uncond, ...; the same frames). `denoise` replaces
    `model.denoise_features` (e.g. a compiled one, bench_sampler). `noise_correlation` chains the
    drawn noise (initial and per step, not injected `latents`) from frame to frame
    (schedulers.correlate_frames), as the CLI's --noise-correlation. `on_latents` receives the final
    latents [1, C, F, h, w] before they are decoded."""
    import time

    if windows_per_call < 1:
        raise ValueError(f"windows_per_call must be at least 1, got {windows_per_call}")
    device = model_device(model)
    clock = {"t": time.perf_counter()}

    def lap(stage: str) -> None:
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize(device)  # kernels run asynchronously; charge them to their stage
        now = time.perf_counter()
        if timings is not None:
            timings[stage] = timings.get(stage, 0.0) + now - clock["t"]
        clock["t"] = now

    Fr = case.pose.shape[0]
    H, W = case.pose.shape[-2:]
    A = len(case.attrs)
    # 1. reference features, once, for the conditional and the unconditional branch
    cond = model.references(case.portrait.to(device), case.portrait_mask.to(device),
                            [(i.to(device), m.to(device)) for i, m in case.attrs])
    zero_img = torch.zeros_like(case.portrait).to(device)
    zero_mask = torch.zeros_like(case.portrait_mask).to(device)
    uncond = model.references(zero_img, zero_mask, [(zero_img, zero_mask)] * A)
    refs = tuple(_cat(c, u) for c, u in zip(cond, uncond))
    lap("references")
    members = case.members[None].to(device).expand(2, -1, -1)
    # 2. initial noise
    f = model.cfg.model
    h, w = H // 8, W // 8
    g = torch.Generator().manual_seed(seed)
    if latents is None:
        latents = correlate_frames(torch.randn(1, f.latent_channels, Fr, h, w, generator=g), noise_correlation)
    x = latents.to(device).float()
    pose_images = torch.cat([case.pose[None], torch.zeros_like(case.pose)[None]]).to(device)  # [2, F, 3, H, W]
    # [2, C0, F, h, w], 32 frames a call (the guider works frame by frame; this bounds its activations)
    pose = torch.cat([model.pose_features(pose_images[:, f0:f0 + 32]) for f0 in range(0, Fr, 32)], dim=2)
    del pose_images
    denoise = denoise or model.denoise_features
    weights_all = case.weights.to(device)
    ddim = DDIMSampler(model.schedule, steps)
    starts = window_starts(Fr, window, overlap)
    ww = window_weights(min(window, Fr), overlap).to(device)
    wlen = min(window, Fr)
    norm = torch.zeros(Fr, device=device)
    for s in starts:
        norm[s:s + wlen] += ww
    groups = [starts[g:g + windows_per_call] for g in range(0, len(starts), windows_per_call)]

    def tile(r, k):  # batch [2, ...] → [2k, ...] as cond, uncond, cond, uncond, ...
        return [tile(a, k) for a in r] if isinstance(r, list) else r.repeat(k, *[1] * (r.dim() - 1))
    # per group size, the tiled references and members (static across steps)
    tiled = {k: (tuple(tile(r, k) for r in refs), members.repeat(k, 1, 1)) for k in {len(g) for g in groups}}
    # 3. denoising loop, windows blended every step
    for i, t in enumerate(ddim.timesteps):
        acc = torch.zeros_like(x)
        for group in groups:
            k = len(group)
            sls = [slice(s, s + wlen) for s in group]
            xin = torch.cat([x[:, :, sl].expand(2, -1, -1, -1, -1) for sl in sls])
            tt = torch.full((2 * k,), float(t), device=device)
            wts = torch.cat([weights_all[sl][None].expand(2, -1, -1) for sl in sls])
            pf = torch.cat([pose[:, :, sl] for sl in sls])
            refs_k, members_k = tiled[k]
            pred = denoise(xin, tt, pf, refs_k, members_k, wts)
            for j, sl in enumerate(sls):
                c, u = pred[2 * j:2 * j + 1], pred[2 * j + 1:2 * j + 2]
                acc[:, :, sl] += (u + guidance_scale * (c - u)) * ww[None, None, :, None, None]
        eps = acc / norm[None, None, :, None, None]
        noise = correlate_frames(torch.randn(x.shape, generator=g), noise_correlation).to(device) if eta > 0 else None
        x, _ = ddim.step(eps, t, x, eta=eta, noise=noise)
        if on_step:
            on_step(i + 1, len(ddim.timesteps), t)
    lap("denoise")
    if on_latents:
        on_latents(x)
    # 4. decode
    z = x[0].permute(1, 0, 2, 3) / model.cfg.latent_scale
    frames = torch.cat([model.vae.decoder(z[k:k + 8]) for k in range(0, Fr, 8)])
    lap("decode")
    return ((frames + 1) / 2).clamp(0, 1)


def model_device(model) -> torch.device:
    """The device a model runs on (an ONNX-backed stand-in says so itself)."""
    return getattr(model, "device", None) or next(model.parameters()).device


def _cat(c, u):
    if isinstance(c, list):
        return [torch.cat([a, b]) for a, b in zip(c, u)]
    return torch.cat([c, u])


def transfer_case(cfg_seed: int, index: int, size: int, frames: int, cls: str = "hair", device="cpu") -> Case:
    """A cross-identity case with ground truth: identity A (index), attribute of class `cls` from
    B (index + 1), motion of A, from the held-out seed `cfg_seed`."""
    a, b = index, index + 1
    ident = sample_identities(cfg_seed, [a, b])
    attrs = sample_attributes(cfg_seed, [a, b], probs={cls: 1.0})
    attrs = with_styles(attrs, **{c: 0 for c in catalog.ATTRIBUTE_CLASSES if c not in (cls, "hair")})
    motion = sample_motion(cfg_seed, [a, b], frames=frames + 1)
    ref = render(ident, attrs, motion.replace(**{k: v[:, :1] for k, v in vars(motion).items()}), size=size, device=device)
    mix = attrs[[0]].swap_class(cls, attrs[[1]])
    tgt_motion = motion[[0]].replace(**{k: v[[0], 1:] for k, v in vars(motion).items()})
    gt = render(ident[[0]], mix, tgt_motion, size=size, device=device)
    c = CLS[cls]
    m_port = torch.maximum(ref.masks[0, 0, c], gt.masks[0, 0, c])[None, None]
    m_attr = ref.masks[1, 0, c][None, None]
    return Case(portrait=ref.rgb[0, 0][None] * (1 - m_port), portrait_mask=m_port,
                attrs=[(ref.rgb[1, 0][None] * m_attr, m_attr)],
                pose=render_keypoints(gt.keypoints[0], size, size), members=torch.ones(1, 1),
                weights=torch.ones(frames, 1), target=gt.rgb[0])


def _grid(rows: list[list[torch.Tensor]]) -> torch.Tensor:
    return torch.cat([torch.cat(r, -1) for r in rows], -2)


def write_sample_sheet(model: Durian, stage: str, path: Path, device) -> None:
    """Progress picture of a stage: reconstructions (vae), parses (parser) or generations (stage1/2)."""
    from .synth.io import save_png

    model.eval()
    size = model.cfg.model.image_size
    seed = model.cfg.hold_out_seed
    with torch.no_grad():
        if stage in ("vae", "parser"):
            idx = list(range(6))
            out = render(sample_identities(seed, idx), sample_attributes(seed, idx), sample_motion(seed, idx, 1),
                         size=size, device=device)
            x = out.rgb[:, 0]
            if stage == "vae":
                mean, _ = model.vae.encoder(x * 2 - 1)
                y = ((model.vae.decoder(mean) + 1) / 2).clamp(0, 1)
            else:
                logits, _, kp = model.parser(x * 2 - 1)
                palette = torch.rand(len(catalog.MASK_CLASSES), 3, generator=torch.Generator().manual_seed(1)).to(device)
                y = palette[logits.argmax(1)].permute(0, 3, 1, 2) * 0.6 + x * 0.4
                y = torch.maximum(y, render_keypoints(kp, size, size))
            img = _grid([list(x), list(y)])
        else:
            frames = 4 if stage == "stage2" else 1
            rows = []
            for k, cls in enumerate(("hair", "glasses")):
                case = transfer_case(seed, 10 * k, size, frames, cls, device)
                gen = sample_video(model, case, steps=20, guidance_scale=2.5, seed=k)
                rows.append([case.portrait[0], case.attrs[0][0][0], case.pose[0]] + list(gen) + list(case.target))
            img = _grid(rows)
    save_png(path, img)
    model.train()


def main(argv=None) -> None:
    from .checkpoint import load_model

    ap = argparse.ArgumentParser(prog="python -m durian_export.sample", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True, help="run directory (ckpt.pt)")
    ap.add_argument("--out", required=True, help="PNG sheet: portrait | attribute | pose | frames | ground truth")
    ap.add_argument("--cls", default="hair", choices=catalog.ATTRIBUTE_CLASSES)
    ap.add_argument("--index", type=int, default=0)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--guidance-scale", type=float, default=2.5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--window", type=int, default=16)
    ap.add_argument("--overlap", type=int, default=4)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args(argv)
    model = load_model(Path(args.checkpoint))
    model.to(args.device).eval()
    size = model.cfg.model.image_size
    case = transfer_case(model.cfg.hold_out_seed, args.index, size, args.frames, args.cls, args.device)
    gen = sample_video(model, case, args.steps, args.guidance_scale, args.seed, window=args.window, overlap=args.overlap)
    from .synth.io import save_png
    save_png(Path(args.out), _grid([[case.portrait[0], case.attrs[0][0][0], case.pose[0]] + list(gen),
                                    [case.portrait[0] * 0, case.attrs[0][0][0] * 0, case.pose[0] * 0] + list(case.target)]))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
