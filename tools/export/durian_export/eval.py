"""python -m durian_export.eval --model models/durian-synth --out DIR [--per-class 4 --frames 8 --steps 20]

Quality benchmark through the product path: fixed, seeded, held-out cases rendered by
SynthPortrait are written to disk with their sidecars, run through the TypeScript CLI
(`durian batch`), and scored in Python against the renderer's ground truth:

- self-reconstruction (the paper's Table 1 protocol): references and targets from one clip;
- cross-identity transfer per class: identity A, attribute of B, motion C, against render(A wearing
  B's attribute, moving as C) — PSNR/SSIM of the frame, L1 inside the attribute region, L1 in the
  identity region outside it;
- the edit-then-animate baselines: B's aligned attribute region pasted onto A's portrait, then
  animated by the same model — `baseline`: the edited image as both references (the attribute
  region cut out of the portrait, as Durian does); `plain`: the edited image as the whole
  appearance with an empty attribute reference (the model as a one-image animator).

The CLI aligns every input to the model's face template; the ground truth is warped by the same
similarity transform (estimated here exactly as src/face/align.ts does) before scoring.
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .cli import run_durian
from .synth import catalog, render, sample_attributes, sample_identities, sample_motion, with_styles
from .synth.io import keypoints_doc, save_png, write_image_with_sidecars
from .synth.params import with_combination

CLS = {n: i for i, n in enumerate(catalog.MASK_CLASSES)}
HOLD_OUT_SEED = 1_000_000


# --- alignment, as src/face/align.ts --------------------------------------------------------------

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


# --- metrics --------------------------------------------------------------------------------------

def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a - b) ** 2).mean())
    return 99.0 if mse == 0 else 10 * math.log10(1 / mse)


def ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean SSIM (Wang et al. 2004; 11×11 Gaussian window, σ = 1.5) of [N, 3, H, W] images in [0, 1]."""
    g = torch.exp(-((torch.arange(11) - 5.0) ** 2) / (2 * 1.5 ** 2))
    w = (g[:, None] * g[None]) / g.sum() ** 2
    w = w[None, None].expand(3, 1, 11, 11)
    f = lambda x: F.conv2d(x, w, groups=3)  # noqa: E731
    mu_a, mu_b = f(a), f(b)
    va, vb, cov = f(a * a) - mu_a ** 2, f(b * b) - mu_b ** 2, f(a * b) - mu_a * mu_b
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (va + vb + c2))
    return float(s.mean())


def region_l1(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> float:
    """Mean |a − b| over the pixels of mask [N, 1, H, W] (weights in [0, 1])."""
    w = mask.expand_as(a)
    return float((w * (a - b).abs()).sum() / w.sum().clamp(min=1e-6))


# --- cases ----------------------------------------------------------------------------------------

def _still(motion, col):
    return motion.replace(**{k: v[:, col:col + 1] for k, v in vars(motion).items()})


def _write_frames(path: Path, frames: torch.Tensor) -> None:
    path.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames):
        save_png(path / f"{i:04d}.png", f)


def build_cases(out: Path, size: int, frames: int, per_class: int, seed: int = HOLD_OUT_SEED,
                combos: int = len(catalog.HELD_OUT_COMBINATIONS), only: set[str] | None = None) -> list[dict]:
    """Writes every case's inputs and ground truth under out/cases; returns their descriptions.
    only: the case groups to keep (e.g. {"transfer/hair"}); each kept case is the same case it is in
    the full set (same index, same draws)."""
    keep = lambda kind, cls: only is None or f"{kind}/{cls}" in only  # noqa: E731
    cases = []
    kinds = [("self", "hair", None)] * per_class + [("transfer", c, None) for c in catalog.ATTRIBUTE_CLASSES
                                                    for _ in range(per_class)]
    # held-out attribute combinations (never rendered for training): B wears exactly one of them
    kinds += [("combo", combo[0], combo) for combo in catalog.HELD_OUT_COMBINATIONS[:combos]]
    for k, (kind, cls, combo) in enumerate(kinds):
        if not keep(kind, cls):
            continue
        a, b, c = 3 * k, 3 * k + 1, 3 * k + 2
        d = out / "cases" / f"{k:03d}-{kind}-{cls}"
        d.mkdir(parents=True, exist_ok=True)
        ident = sample_identities(seed, [a, b, c])
        attrs = sample_attributes(seed, [a, b, c], probs={cls: 1.0, "hair": 1.0})
        others = {o: 0 for o in catalog.ATTRIBUTE_CLASSES if o not in (cls, "hair")}
        attrs = with_styles(attrs, **others)
        if combo is not None:
            attrs = attrs.set_item(1, with_combination(attrs[[1]], *combo))
        motion = sample_motion(seed, [c], frames + 1, preset="talking")  # the driver: C
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
        cases.append(case)
    n = len(kinds)
    for k in range(per_class):
        if keep("composition", "hat+glasses"):
            cases.append(_composition_case(out, n + 2 * k, size, frames, seed, 1000 + 4 * k))
        if keep("interpolation", "hair"):
            cases.append(_interpolation_case(out, n + 2 * k + 1, size, frames, seed, 2000 + 3 * k))
    return cases


def _composition_case(out: Path, n: int, size: int, frames: int, seed: int, base: int) -> dict:
    """Identity A wearing B's hat and C's glasses, moving as D: two attributes in one pass."""
    a, b, c, dd = base, base + 1, base + 2, base + 3
    d = out / "cases" / f"{n:03d}-composition-hat+glasses"
    d.mkdir(parents=True, exist_ok=True)
    ident = sample_identities(seed, [a, b, c])
    attrs = with_styles(sample_attributes(seed, [a, b, c], probs={"hair": 1.0, "hat": 1.0, "glasses": 1.0}), beard=0)
    mine = with_styles(attrs[[0]], hat=0, glasses=0)
    target = mine.swap_class("hat", attrs[[1]]).swap_class("glasses", attrs[[2]])
    motion = sample_motion(seed, [dd], frames + 1, preset="talking")
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


def write_jobs(cases: list[dict], out: Path, steps: int, seed: int, guidance_scale: float | None = None) -> Path:
    lines = []
    for c in cases:
        d = Path(c["dir"])
        common = {"guide": str(d / "guide.json"), "steps": steps, "seed": seed, "frames": c["frames"] + 1}
        if guidance_scale is not None:
            common["guidanceScale"] = guidance_scale
        if c["kind"] in ("composition", "interpolation"):
            job = {**common, "identity": str(d / "identity.png"), "attr": [f"{d / f}:{k}" for f, k in c["attrs"]],
                   "output": str(d / "ours") + "/"}
            if c["kind"] == "interpolation":
                job.update(command="interpolate", alpha="0:1")
            lines.append(job)
            continue
        lines.append({**common, "identity": str(d / "identity.png"), "attr": f"{d / 'attr.png'}:{c['cls']}",
                      "output": str(d / "ours") + "/"})
        lines.append({**common, "identity": str(d / "edited.png"), "attr": f"{d / 'edited.png'}:{c['cls']}",
                      "output": str(d / "baseline") + "/"})
        lines.append({**common, "identity": str(d / "plain.png"), "attr": f"{d / 'plain.png'}:{c['cls']}",
                      "attrMask": str(d / "empty-mask.png"), "output": str(d / "plain") + "/"})
    jobs = out / "jobs.jsonl"
    jobs.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return jobs


def run_cli(jobs: Path, model: Path, provider: str = "cpu") -> dict:
    """`durian batch` on the jobs (the product path); returns its JSON summary."""
    r = run_durian(["batch", str(jobs), "--model", str(model), "--provider", provider, "--json", "--resume"])
    if not r.stdout.strip():
        raise RuntimeError(f"durian batch printed nothing: {r.stderr[-2000:]}")
    return json.loads(r.stdout)


def _read_frames(d: Path) -> torch.Tensor:
    files = sorted(d.glob("*.png"))
    return torch.stack([torch.from_numpy(np.asarray(Image.open(f).convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1)
                        for f in files])


def parse_keypoints(model: Path, frames: torch.Tensor) -> np.ndarray:
    """68 keypoints of each frame [N, 3, H, W] by the model's parser graph (onnxruntime CPU)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(model / "parser.onnx"), providers=["CPUExecutionProvider"])
    return np.concatenate([sess.run(["keypoints"], {"image": (f[None] * 2 - 1).numpy()})[0] for f in frames])


def motion_scores(model: Path, out: torch.Tensor, gt_kp: np.ndarray) -> dict:
    """Keypoint error of the output (through the parser) against the aligned guidance, and temporal
    jitter (mean |second difference|) of the output's keypoints against the ground truth's."""
    kp = parse_keypoints(model, out)
    err = float(np.linalg.norm(kp - gt_kp, axis=-1).mean())
    jit = lambda k: float(np.linalg.norm(k[2:] - 2 * k[1:-1] + k[:-2], axis=-1).mean()) if len(k) > 2 else 0.0  # noqa: E731
    return {"keypoint_error_px": err, "jitter_px": jit(kp), "gt_jitter_px": jit(gt_kp)}


def score_case(case: dict, size: int, template: np.ndarray, model: Path | None = None) -> dict:
    """Scores ours and the baseline against the aligned ground truth (the first output frame is the
    portrait's own pose and is left out)."""
    d = Path(case["dir"])
    t = torch.load(d / "truth.pt")
    m = estimate_similarity(t["portrait_kp"].numpy(), template)
    if case["kind"] == "interpolation":
        return _score_interpolation(case, t, m, size)
    gt = warp(_read_frames(d / "gt"), m, size)
    masks = warp(t["masks"], m, size)
    cls_mask = sum(masks[:, CLS[c]:CLS[c] + 1] for c in case["cls"].split("+"))
    face = masks[:, CLS["face"]:CLS["face"] + 1] * (1 - cls_mask)
    kp = t["keypoints"].numpy()
    gt_kp = kp @ m[:, :2].T + m[:, 2]
    result = {"kind": case["kind"], "cls": case["cls"]}
    for name in ("ours", "baseline", "plain") if case["kind"] != "composition" else ("ours",):
        out = _read_frames(d / name)[1:]
        result[name] = {"psnr": psnr(out, gt), "ssim": ssim(out, gt), "l1": float((out - gt).abs().mean()),
                        "attr_l1": region_l1(out, gt, cls_mask), "identity_l1": region_l1(out, gt, face)}
        if model is not None:
            result[name].update(motion_scores(model, out, gt_kp))
    return result


def _score_interpolation(case: dict, t: dict, m: np.ndarray, size: int) -> dict:
    d = Path(case["dir"])
    out = _read_frames(d / "ours")
    ends = warp(t["ends"], m, size)
    hair = warp(t["end_masks"][:, CLS["hair"]:CLS["hair"] + 1], m, size).amax(0, keepdim=True)
    # change of the hair region from the first frame, frame by frame: monotonic in α?
    change = [region_l1(out[i:i + 1], out[:1], hair) for i in range(len(out))]
    steps = np.diff(change)
    return {"kind": "interpolation", "cls": "hair", "change": change,
            "monotonic_fraction": float((steps >= -1e-3).mean()) if len(steps) else 1.0,
            "start": {"psnr": psnr(out[:1], ends[:1]), "attr_l1": region_l1(out[:1], ends[:1], hair)},
            "end": {"psnr": psnr(out[-1:], ends[1:]), "attr_l1": region_l1(out[-1:], ends[1:], hair)}}


def summarise(scores: list[dict]) -> dict:
    groups: dict[str, list[dict]] = {}
    for s in scores:
        groups.setdefault(f"{s['kind']}/{s['cls']}", []).append(s)
    table = {}
    for key, items in groups.items():
        names = [n for n in ("ours", "baseline", "plain", "start", "end") if n in items[0]]
        table[key] = {name: {m: float(np.mean([i[name][m] for i in items])) for m in items[0][name]} for name in names}
        if "monotonic_fraction" in items[0]:
            table[key]["monotonic_fraction"] = float(np.mean([i["monotonic_fraction"] for i in items]))
        table[key]["cases"] = len(items)
    return table


def write_report(out: Path, table: dict, args) -> Path:
    extra = "".join(f" --{k.replace('_', '-')} {v}" for k, v in (("only", args.only), ("case_seed", args.case_seed),
                                                                  ("guidance_scale", args.guidance_scale))
                    if v is not None and not (k == "case_seed" and v == HOLD_OUT_SEED))
    lines = ["# durian benchmark", "",
             f"Model `{args.model}`, {args.per_class} case(s) per class, {args.frames} frames, {args.steps} steps, seed "
             f"{args.seed}; held-out cases from seed {args.case_seed}. Rerun: `python -m durian_export.eval "
             f"--model {args.model} --out DIR --per-class {args.per_class} --frames {args.frames} --steps {args.steps}{extra}`.", "",
             "| cases | method | PSNR ↑ | SSIM ↑ | L1 ↓ | attribute L1 ↓ | identity L1 ↓ |", "| --- | --- | --- | --- | --- | --- | --- |"]
    motion = []
    for key, row in table.items():
        for name in ("ours", "baseline", "plain"):
            if name not in row:
                continue
            r = row[name]
            lines.append(f"| {key} ({row['cases']}) | {name} | {r['psnr']:.2f} | {r['ssim']:.4f} | {r['l1']:.4f} | "
                         f"{r['attr_l1']:.4f} | {r['identity_l1']:.4f} |")
            if "keypoint_error_px" in r:
                motion.append(f"| {key} | {name} | {r['keypoint_error_px']:.2f} | {r['jitter_px']:.2f} | {r['gt_jitter_px']:.2f} |")
    lines += ["", "Motion (keypoints of the output through the parser, model pixels):", "",
              "| cases | method | keypoint error ↓ | jitter | ground-truth jitter |", "| --- | --- | --- | --- | --- |", *motion]
    for key, row in table.items():
        if "monotonic_fraction" in row:
            lines += ["", f"Interpolation ({key}, {row['cases']} case(s)): hair-region change from the first frame is "
                      f"non-decreasing over {100 * row['monotonic_fraction']:.0f} % of frame steps; α = 0 end PSNR "
                      f"{row['start']['psnr']:.2f} (hair L1 {row['start']['attr_l1']:.4f}), α = 1 end PSNR "
                      f"{row['end']['psnr']:.2f} (hair L1 {row['end']['attr_l1']:.4f}) against the ground truth of each."]
    path = out / "benchmark.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def write_picture(path: Path, cases: list[dict], size: int, template: np.ndarray) -> None:
    """Rows: identity | attribute | guidance | ours | baseline | plain animator | ground truth (middle frame), for the
    transfer cases, all in the CLI's aligned frame."""
    from .keypoint_image import render_keypoints

    rows = []
    for c in cases:
        if c["kind"] not in ("transfer", "combo"):
            continue
        d = Path(c["dir"])
        t = torch.load(d / "truth.pt")
        m = estimate_similarity(t["portrait_kp"].numpy(), template)
        gt = warp(_read_frames(d / "gt"), m, size)
        ours, base, plain = (_read_frames(d / n)[1:] for n in ("ours", "baseline", "plain"))
        mid = len(gt) // 2
        kp = torch.from_numpy((t["keypoints"][mid].numpy() @ m[:, :2].T + m[:, 2]).astype(np.float32))
        ident = warp(t["portrait"][None], m, size)[0]
        ma = estimate_similarity(t["donor_kp"].numpy(), template)
        attr = warp(t["donor"][None], ma, size)[0]
        rows.append(torch.cat([ident, attr, render_keypoints(kp[None], size, size)[0], ours[mid], base[mid], plain[mid], gt[mid]], -1))
    if rows:
        save_png(path, torch.cat(rows, -2))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m durian_export.eval", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="model directory (the CLI runs it)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--per-class", type=int, default=4)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--combos", type=int, default=len(catalog.HELD_OUT_COMBINATIONS),
                    help="how many of the held-out attribute combinations to include")
    ap.add_argument("--provider", default="cpu")
    ap.add_argument("--only", help="comma-separated case groups to run, e.g. transfer/hair,transfer/glasses")
    ap.add_argument("--case-seed", type=int, default=HOLD_OUT_SEED,
                    help=f"seed the cases are drawn from ({HOLD_OUT_SEED}: the benchmark; another seed "
                         "≥ the training hold-out, e.g. 2000000, is a validation split for tuning)")
    ap.add_argument("--guidance-scale", type=float, help="the CLI's --guidance-scale (default: the CLI's)")
    args = ap.parse_args(argv)
    if args.case_seed < HOLD_OUT_SEED:
        raise SystemExit(f"--case-seed {args.case_seed}: seeds below {HOLD_OUT_SEED} are training data")
    model = Path(args.model).resolve()
    manifest = json.loads((model / "manifest.json").read_text())
    size = manifest["resolution"][0]
    template = np.array(manifest["face_template"], dtype=np.float64).reshape(68, 2) * size
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    only = set(args.only.split(",")) if args.only else None
    cases = build_cases(out, size, args.frames, args.per_class, seed=args.case_seed, combos=args.combos, only=only)
    if not cases:
        raise SystemExit(f"--only {args.only}: no such case group")
    summary = run_cli(write_jobs(cases, out, args.steps, args.seed, args.guidance_scale), model, args.provider)
    if summary["failed"]:
        raise SystemExit(f"{summary['failed']} job(s) failed: {[o for o in summary['outcomes'] if o['status'] == 'failed']}")
    scores = [score_case(c, size, template, model) for c in cases]
    write_picture(out / "benchmark.png", cases, size, template)
    table = summarise(scores)
    (out / "benchmark.json").write_text(json.dumps({"table": table, "cases": scores}, indent=1))
    print(write_report(out, table, args).read_text())


if __name__ == "__main__":
    main()
