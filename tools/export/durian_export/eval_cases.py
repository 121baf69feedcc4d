"""The benchmark's cases: fixed, seeded, held-out SynthPortrait renders written to disk with their
sidecars and ground truth, the CLI jobs that run them, and the alignment the CLI applies (so the
ground truth can be brought into the model's frame, with the mask of the pixels it covers)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .synth import catalog, render, sample_attributes, sample_identities, sample_motion, with_styles
from .synth.io import keypoints_doc, save_png, write_image_with_sidecars
from .synth.params import with_combination

CLS = catalog.CLS
HOLD_OUT_SEED = 1_000_000


# --- alignment, as src/face/align.ts --------------------------------------------------------------

def model_frame(model: Path) -> tuple[dict, int, np.ndarray]:
    """A model folder's manifest, its square resolution and its face template in that frame's pixels
    ([68, 2]): what the CLI aligns every input to."""
    manifest = json.loads((Path(model) / "manifest.json").read_text())
    size = manifest["resolution"][0]
    return manifest, size, np.array(manifest["face_template"], dtype=np.float64).reshape(68, 2) * size


def estimate_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity src → dst ([K, 2] each) as a 2×3 matrix."""
    ms, md = src.mean(0), dst.mean(0)
    p, q = src - ms, dst - md
    norm = (p ** 2).sum()
    a = (p * q).sum() / norm
    b = (p[:, 0] * q[:, 1] - p[:, 1] * q[:, 0]).sum() / norm
    return np.array([[a, -b, md[0] - a * ms[0] + b * ms[1]], [b, a, md[1] - b * ms[0] - a * ms[1]]])


def warp(img: torch.Tensor, m: np.ndarray, size: int) -> torch.Tensor:
    """[N, C, H, W] warped by m (source → destination pixels, centres at +0.5), bilinear, zeros outside."""
    N, C, H, W = img.shape
    full = np.vstack([m, [0, 0, 1]])
    inv = np.linalg.inv(full)
    ys, xs = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    sx = inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]
    sy = inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]
    grid = torch.stack([sx / W * 2 - 1, sy / H * 2 - 1], -1).float()[None].expand(N, -1, -1, -1)
    return F.grid_sample(img.float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False)


# --- cases ----------------------------------------------------------------------------------------

def coverage(m: np.ndarray, src_hw: tuple[int, int], size: int) -> torch.Tensor:
    """bool [1, 1, size, size]: the pixels of the warped frame that sample only inside the source
    image (bilinear weights all from source pixels). The rest is padding: no metric scores it."""
    ones = torch.ones(1, 1, *src_hw)
    return warp(ones, m, size) > 0.999


def _still(motion, col):
    return motion.replace(**{k: v[:, col:col + 1] for k, v in vars(motion).items()})


def _write_frames(path: Path, frames: torch.Tensor) -> None:
    path.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames):
        save_png(path / f"{i:04d}.png", f)


def plan_cases(per_class: int, combos: int = len(catalog.HELD_OUT_COMBINATIONS),
               only: set[str] | None = None) -> list[tuple]:
    """The benchmark's case list, nothing rendered: (index, kind, cls, combination or None) per case.
    combos: how many held-out-combination cases; case j's donor wears combination j mod 8 (so 16 is
    every combination twice, with different people and motion). only: the case groups to keep (e.g.
    {"transfer/hair"}); each kept case is the same case it is in the full set (same index, same draws)."""
    keep = lambda kind, cls: only is None or f"{kind}/{cls}" in only  # noqa: E731
    kinds = [("self", "hair", None)] * per_class + [("transfer", c, None) for c in catalog.ATTRIBUTE_CLASSES
                                                    for _ in range(per_class)]
    # held-out attribute combinations (never rendered for training): B wears exactly one of them
    held = catalog.HELD_OUT_COMBINATIONS
    kinds += [("combo", held[j % len(held)][0], held[j % len(held)]) for j in range(combos)]
    plan = [(k, kind, cls, combo) for k, (kind, cls, combo) in enumerate(kinds) if keep(kind, cls)]
    n = len(kinds)
    for k in range(per_class):
        if keep("composition", "hat+glasses"):
            plan.append((n + 2 * k, "composition", "hat+glasses", 1000 + 4 * k))
        if keep("interpolation", "hair"):
            plan.append((n + 2 * k + 1, "interpolation", "hair", 2000 + 3 * k))
    return plan


def build_cases(out: Path, size: int, frames: int, per_class: int, seed: int = HOLD_OUT_SEED,
                combos: int = len(catalog.HELD_OUT_COMBINATIONS), only: set[str] | None = None,
                speed: float = 1.0) -> list[dict]:
    """Writes every case's inputs and ground truth under out/cases; returns their descriptions."""
    return [build_case(out, spec, size, frames, seed, speed) for spec in plan_cases(per_class, combos, only)]


def driver_fps(speed: float) -> float:
    """The rate the driver's motion is sampled at for a guide that plays `speed` times as fast as the
    talking preset (the guide itself stays 25 fps): frame f shows the motion of time f · speed / 25 s."""
    if not speed > 0:
        raise ValueError(f"motion speed must be > 0, not {speed}")
    return 25.0 / speed


def build_case(out: Path, spec: tuple, size: int, frames: int, seed: int = HOLD_OUT_SEED, speed: float = 1.0) -> dict:
    """Writes one planned case (plan_cases) under out/cases; returns its description. `speed` > 1:
    the driver moves that many times faster (the same motion, sampled further apart)."""
    k, kind, cls, combo = spec
    if kind == "composition":
        return _composition_case(out, k, size, frames, seed, combo, speed)
    if kind == "interpolation":
        return _interpolation_case(out, k, size, frames, seed, combo)
    a, b, c = 3 * k, 3 * k + 1, 3 * k + 2
    d = out / "cases" / f"{k:03d}-{kind}-{cls}"
    d.mkdir(parents=True, exist_ok=True)
    ident = sample_identities(seed, [a, b, c])
    attrs = sample_attributes(seed, [a, b, c], probs={cls: 1.0, "hair": 1.0})
    others = {o: 0 for o in catalog.ATTRIBUTE_CLASSES if o not in (cls, "hair")}
    attrs = with_styles(attrs, **others)
    if combo is not None:
        attrs = attrs.set_item(1, with_combination(attrs[[1]], *combo))
    motion = sample_motion(seed, [c], frames + 1, fps=driver_fps(speed), preset="talking")  # the driver: C
    if kind == "self":
        src_ident, src_attrs, tgt_attrs = ident[[0]], attrs[[0]], attrs[[0]]
        donor = render(ident[[0]], attrs[[0]], _still(motion, 0), size=size)
    else:
        src_ident, src_attrs = ident[[0]], attrs[[0]]
        tgt_attrs = attrs[[0]].swap_class(cls, attrs[[1]])
        b_motion = sample_motion(seed, [b], 1, preset="still")
        donor = render(ident[[1]], attrs[[1]], b_motion, size=size)
    portrait = render(src_ident, src_attrs, _still(motion, 0), size=size)
    gt = render(src_ident, tgt_attrs, motion.replace(**{kk: v[:, 1:] for kk, v in vars(motion).items()}), size=size)
    write_image_with_sidecars(d / "identity.png", portrait.rgb[0, 0], portrait.masks[0, 0], portrait.keypoints[0, 0])
    write_image_with_sidecars(d / "attr.png", donor.rgb[0, 0], donor.masks[0, 0], donor.keypoints[0, 0])
    (d / "guide.json").write_text(json.dumps(keypoints_doc(torch.cat([portrait.keypoints[0], gt.keypoints[0]]), size, size, 25.0)))
    _write_frames(d / "gt", gt.rgb[0])
    torch.save({"masks": gt.masks[0], "keypoints": gt.keypoints[0], "portrait_kp": portrait.keypoints[0, 0],
                "portrait": portrait.rgb[0, 0], "portrait_masks": portrait.masks[0, 0],
                "donor": donor.rgb[0, 0], "donor_masks": donor.masks[0, 0], "donor_kp": donor.keypoints[0, 0]},
               d / "truth.pt")
    # the baseline's input: B's attribute region, aligned to A by keypoints, pasted onto A's portrait
    m = estimate_similarity(donor.keypoints[0, 0].numpy(), portrait.keypoints[0, 0].numpy())
    region = warp(donor.masks[0, 0, CLS[cls]][None, None], m, size)[0]
    pasted = warp(donor.rgb[0, 0][None], m, size)[0]
    edited = portrait.rgb[0, 0] * (1 - region) + pasted * region
    edited_masks = portrait.masks[0, 0].clone()
    edited_masks[CLS[cls]] = torch.maximum(edited_masks[CLS[cls]], region[0])
    write_image_with_sidecars(d / "edited.png", edited, edited_masks, portrait.keypoints[0, 0])
    # the plain-animator variant: the edited image is the whole appearance (no attribute region
    # cut out of it) and the attribute reference is empty — the model as a one-image animator
    plain_masks = edited_masks.clone()
    plain_masks[CLS[cls]] = 0
    write_image_with_sidecars(d / "plain.png", edited, plain_masks, portrait.keypoints[0, 0])
    save_png(d / "empty-mask.png", torch.zeros(size, size))
    case = {"dir": str(d), "kind": kind, "cls": cls, "frames": frames}
    if combo is not None:
        case["combination"] = f"{combo[1]} in palette colour {combo[2]}"
    return case


def _composition_case(out: Path, n: int, size: int, frames: int, seed: int, base: int, speed: float = 1.0) -> dict:
    """Identity A wearing B's hat and C's glasses, moving as D: two attributes in one pass."""
    a, b, c, dd = base, base + 1, base + 2, base + 3
    d = out / "cases" / f"{n:03d}-composition-hat+glasses"
    d.mkdir(parents=True, exist_ok=True)
    ident = sample_identities(seed, [a, b, c])
    attrs = with_styles(sample_attributes(seed, [a, b, c], probs={"hair": 1.0, "hat": 1.0, "glasses": 1.0}), beard=0)
    mine = with_styles(attrs[[0]], hat=0, glasses=0)
    target = mine.swap_class("hat", attrs[[1]]).swap_class("glasses", attrs[[2]])
    motion = sample_motion(seed, [dd], frames + 1, fps=driver_fps(speed), preset="talking")
    portrait = render(ident[[0]], mine, _still(motion, 0), size=size)
    gt = render(ident[[0]], target, motion.replace(**{k: v[:, 1:] for k, v in vars(motion).items()}), size=size)
    still = sample_motion(seed, [b, c], 1, preset="still")
    donors = render(ident[[1, 2]], attrs[[1, 2]], still, size=size)
    write_image_with_sidecars(d / "identity.png", portrait.rgb[0, 0], portrait.masks[0, 0], portrait.keypoints[0, 0])
    write_image_with_sidecars(d / "attr.png", donors.rgb[0, 0], donors.masks[0, 0], donors.keypoints[0, 0])
    write_image_with_sidecars(d / "attr2.png", donors.rgb[1, 0], donors.masks[1, 0], donors.keypoints[1, 0])
    (d / "guide.json").write_text(json.dumps(keypoints_doc(torch.cat([portrait.keypoints[0], gt.keypoints[0]]), size, size, 25.0)))
    _write_frames(d / "gt", gt.rgb[0])
    torch.save({"masks": gt.masks[0], "keypoints": gt.keypoints[0], "portrait_kp": portrait.keypoints[0, 0]}, d / "truth.pt")
    return {"dir": str(d), "kind": "composition", "cls": "hat+glasses", "frames": frames,
            "attrs": [["attr.png", "hat"], ["attr2.png", "glasses"]]}


def _interpolation_case(out: Path, n: int, size: int, frames: int, seed: int, base: int) -> dict:
    """α from 0 to 1 between B's and C's hair on a still A: the hair region should move monotonically
    from one end to the other; the ends are scored against the ground truth of each."""
    a, b, c = base, base + 1, base + 2
    d = out / "cases" / f"{n:03d}-interpolation-hair"
    d.mkdir(parents=True, exist_ok=True)
    ident = sample_identities(seed, [a, b, c])
    attrs = with_styles(sample_attributes(seed, [a, b, c], probs={"hair": 1.0}), hat=0, glasses=0, beard=0)
    still = sample_motion(seed, [a], frames + 1, preset="still")
    portrait = render(ident[[0]], attrs[[0]], _still(still, 0), size=size)
    ends = [render(ident[[0]], attrs[[0]].swap_class("hair", attrs[[i]]), _still(still, 0), size=size) for i in (1, 2)]
    donors = render(ident[[1, 2]], attrs[[1, 2]], sample_motion(seed, [b, c], 1, preset="still"), size=size)
    write_image_with_sidecars(d / "identity.png", portrait.rgb[0, 0], portrait.masks[0, 0], portrait.keypoints[0, 0])
    write_image_with_sidecars(d / "attr.png", donors.rgb[0, 0], donors.masks[0, 0], donors.keypoints[0, 0])
    write_image_with_sidecars(d / "attr2.png", donors.rgb[1, 0], donors.masks[1, 0], donors.keypoints[1, 0])
    (d / "guide.json").write_text(json.dumps(keypoints_doc(portrait.keypoints[0].expand(frames + 1, -1, -1), size, size, 25.0)))
    torch.save({"ends": torch.stack([e.rgb[0, 0] for e in ends]), "end_masks": torch.stack([e.masks[0, 0] for e in ends]),
                "portrait_kp": portrait.keypoints[0, 0]}, d / "truth.pt")
    return {"dir": str(d), "kind": "interpolation", "cls": "hair", "frames": frames,
            "attrs": [["attr.png", "hair"], ["attr2.png", "hair"]]}


def write_jobs(cases: list[dict], out: Path, steps: int, seed: int, guidance_scale: float | None = None,
               name: str = "jobs.jsonl", eta: float | None = None, ours_only: bool = False,
               noise_correlation: float | None = None) -> Path:
    lines = []
    for c in cases:
        d = Path(c["dir"])
        common = {"guide": str(d / "guide.json"), "steps": steps, "seed": seed, "frames": c["frames"] + 1}
        if guidance_scale is not None:
            common["guidanceScale"] = guidance_scale
        if eta is not None:
            common["eta"] = eta
        if noise_correlation is not None:
            common["noiseCorrelation"] = noise_correlation
        if c["kind"] in ("composition", "interpolation"):
            job = {**common, "identity": str(d / "identity.png"), "attr": [f"{d / f}:{k}" for f, k in c["attrs"]],
                   "output": str(d / "ours") + "/"}
            if c["kind"] == "interpolation":
                job.update(command="interpolate", alpha="0:1")
            lines.append(job)
            continue
        lines.append({**common, "identity": str(d / "identity.png"), "attr": f"{d / 'attr.png'}:{c['cls']}",
                      "output": str(d / "ours") + "/"})
        if ours_only:
            continue
        lines.append({**common, "identity": str(d / "edited.png"), "attr": f"{d / 'edited.png'}:{c['cls']}",
                      "output": str(d / "baseline") + "/"})
        lines.append({**common, "identity": str(d / "plain.png"), "attr": f"{d / 'plain.png'}:{c['cls']}",
                      "attrMask": str(d / "empty-mask.png"), "output": str(d / "plain") + "/"})
    jobs = out / name
    jobs.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return jobs


