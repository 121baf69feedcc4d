"""Parity of an exported model with the PyTorch model it came from, on onnxruntime's CPU provider:
each graph against its module (max relative error, `graph_parity`), and the whole sampling loop over
the ONNX sessions against the PyTorch sampler with the same injected noise (PSNR of the decoded
frames, `loop_parity`). onnxruntime is imported inside the functions: exporting without parity
needs none (the GPU training host has none).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from .components import Durian
from .ort_cpu import cpu_session

GRAPHS = ("vae_encoder", "vae_decoder", "prnet", "arnet", "pose_guider", "unet", "parser")


def run_session(path: Path, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    return cpu_session(path).run(None, feeds)


def max_relative_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12))


def graph_parity(path: Path, feeds: dict[str, np.ndarray], expected: list[np.ndarray]) -> dict:
    """One exported graph run on `feeds` against its PyTorch outputs `expected`."""
    got = run_session(path, feeds)
    errs = [max_relative_error(g, r) for g, r in zip(got, expected)]
    return {"max_relative_error": max(errs), "outputs": len(errs), "bytes": path.stat().st_size}


class OnnxDurian:
    """The sampler's model interface over ONNX sessions (onnxruntime CPU): references(), denoise(),
    vae.decoder — so `sample_video` can run the exported graphs unchanged."""

    device = torch.device("cpu")

    def __init__(self, model_dir: Path, torch_model: Durian):
        self.s = {g: cpu_session(model_dir / f"{g}.onnx") for g in GRAPHS if (model_dir / f"{g}.onnx").exists()}
        self.cfg, self.schedule = torch_model.cfg, torch_model.schedule
        self.L = torch_model.unet.num_ref_layers
        self.mask_channel = torch_model.cfg.model.mask_channel
        outer = self

        class _Dec:
            def decoder(self, z):
                return torch.from_numpy(outer.s["vae_decoder"].run(None, {"latent": z.numpy()})[0])

        self.vae = _Dec()

    def _ref_input(self, image, mask):
        z = torch.from_numpy(self.s["vae_encoder"].run(None, {"sample": (image * 2 - 1).numpy()})[0]) * self.cfg.latent_scale
        if not self.mask_channel:
            return z
        return torch.cat([z, torch.nn.functional.interpolate(mask, size=z.shape[-2:], mode="area")], 1)

    def _ref(self, graph, image, mask):
        out = self.s[graph].run(None, {"reference": self._ref_input(image, mask).numpy()})
        return [torch.from_numpy(o) for o in out[:-1]], torch.from_numpy(out[-1])

    def references(self, portrait, portrait_mask, attrs):
        hp, pp = self._ref("prnet", portrait, portrait_mask)
        per = [self._ref("arnet", i, m) for i, m in attrs]
        ha = [torch.stack([h[layer] for h, _ in per], 1) for layer in range(self.L)]
        return hp, pp, ha, torch.stack([p for _, p in per], 1)

    def pose_features(self, pose_images):
        B, Fr = pose_images.shape[:2]
        pf = torch.from_numpy(self.s["pose_guider"].run(None, {"pose_image": pose_images.flatten(0, 1).numpy()})[0])
        return pf.reshape(B, Fr, *pf.shape[1:]).permute(0, 2, 1, 3, 4)

    def denoise_features(self, noisy, t, pf, refs, members, weights):
        hp, pp, ha, pa = refs
        feeds = {"sample": noisy, "timestep": t, "pose_features": pf, "members": members, "weights": weights,
                 "portrait_embedding": pp, "attr_embedding": pa}
        for layer in range(self.L):
            feeds[f"portrait_hidden_{layer}"] = hp[layer]
            feeds[f"attr_hidden_{layer}"] = ha[layer]
        feeds = {k: np.ascontiguousarray(v.float().numpy()) for k, v in feeds.items()}
        return torch.from_numpy(self.s["unet"].run(None, feeds)[0])


def loop_parity(model: Durian, model_dir: Path, frames: int = 3, steps: int = 4) -> dict:
    """The whole sampler over ONNX sessions vs PyTorch, same injected noise; PSNR of decoded frames."""
    from .metrics import psnr  # the one PSNR convention (torchmetrics); here, as parity needs it only
    from .sample import sample_video, transfer_case

    model = model.eval().float().cpu()
    size = model.cfg.model.image_size
    case = transfer_case(model.cfg.hold_out_seed, 0, size, frames, "hair")
    g = torch.Generator().manual_seed(123)
    factor = json.loads((model_dir / "manifest.json").read_text())["vae_scale_factor"]
    latents = torch.randn(1, model.cfg.model.latent_channels, frames, size // factor, size // factor, generator=g)
    t0 = time.perf_counter()
    ref = sample_video(model, case, steps=steps, latents=latents, window=2, overlap=1)
    t1 = time.perf_counter()
    got = sample_video(OnnxDurian(model_dir, model), case, steps=steps, latents=latents, window=2, overlap=1)
    t2 = time.perf_counter()
    return {"psnr_db": psnr(got, ref), "frames": frames, "steps": steps, "torch_s": t1 - t0, "onnx_s": t2 - t1}
