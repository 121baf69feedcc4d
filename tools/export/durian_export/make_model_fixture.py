"""python -m durian_export.make_model_fixture --out test/fixtures/onnx-tiny

A tiny *real* model for the TypeScript tests: configs/fixture.json with seeded random weights (the
zero-initialised output layers perturbed, so every graph computes something), exported with the
normal exporter, plus `golden.json`: one generation case prepared exactly as the CLI prepares it
(masked references, masks, keypoints, injected initial latents) and the PyTorch reference sampler's
decoded frames, for the TypeScript parity test.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from .components import Durian
from .config import load_config
from .export_onnx import export_model
from .keypoint_image import render_keypoints
from .sample import Case, sample_video
from .synth import render, sample_attributes, sample_identities, sample_motion, with_styles

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "fixture.json"


def build_model(seed: int = 0) -> Durian:
    torch.manual_seed(seed)
    model = Durian(load_config(CONFIG))
    with torch.no_grad():
        for p in model.parameters():
            if p.abs().max() == 0:
                p.normal_(0, 0.05)
    model.cfg.latent_scale = 0.8
    return model.eval()


def _flat(t: torch.Tensor) -> list[float]:
    return [round(float(v), 6) for v in t.reshape(-1)]


def golden_case(model: Durian, frames: int = 3, steps: int = 3, guidance: float = 2.0) -> dict:
    size = model.cfg.model.image_size
    idx = [0, 1]
    ident = sample_identities(77, idx)
    attrs = with_styles(sample_attributes(77, idx, probs={"hair": 1.0}), hat=0, glasses=0, beard=0)
    motion = sample_motion(77, idx, frames + 1)
    first = motion.replace(**{k: v[:, :1] for k, v in vars(motion).items()})
    ref = render(ident, attrs, first, size=size)
    m_port = ref.masks[0, 0, 3][None, None]
    m_attr = ref.masks[1, 0, 3][None, None]
    drive = render(ident[[0]], attrs[[0]], motion[[0]].replace(**{k: v[[0], 1:] for k, v in vars(motion).items()}), size=size)
    kp = drive.keypoints[0]
    case = Case(portrait=ref.rgb[0, 0][None] * (1 - m_port), portrait_mask=m_port,
                attrs=[(ref.rgb[1, 0][None] * m_attr, m_attr)], pose=render_keypoints(kp, size, size),
                members=torch.ones(1, 1), weights=torch.ones(frames, 1))
    g = torch.Generator().manual_seed(5)
    latents = torch.randn(1, model.cfg.model.latent_channels, frames, size // 8, size // 8, generator=g)
    out = sample_video(model, case, steps=steps, guidance_scale=guidance, latents=latents, window=2, overlap=1)
    return {"size": size, "frames": frames, "steps": steps, "guidance_scale": guidance, "window": 2, "overlap": 1,
            "scheduler": "ddim",
            "portrait": _flat(case.portrait[0]), "portrait_mask": _flat(m_port[0, 0]),
            "attr": _flat(case.attrs[0][0][0]), "attr_mask": _flat(m_attr[0, 0]),
            "keypoints": [_flat(k) for k in kp], "latents": _flat(latents), "expected": [_flat(f) for f in out]}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m durian_export.make_model_fixture", description=__doc__)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    out = Path(args.out)
    model = build_model()
    report = export_model(model, out, "onnx-tiny")
    (out / "golden.json").write_text(json.dumps(golden_case(model)))
    print(json.dumps(report["graphs"]))


if __name__ == "__main__":
    main()
