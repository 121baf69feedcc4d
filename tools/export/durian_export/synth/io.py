"""Writing SynthPortrait renders to disk: PNG frames, per-class mask PNGs, keypoints.json,
params.json, and H.264 videos (ffmpeg from the imageio-ffmpeg wheel)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from . import catalog
from .params import Attributes, Identity, Motion

KEYPOINT_LAYOUT = "ibug68"


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """[3, H, W] or [H, W] float in [0, 1] → HWC / HW uint8."""
    a = (img.clamp(0, 1) * 255 + 0.5).to(torch.uint8).cpu()
    return (a.permute(1, 2, 0) if a.dim() == 3 else a).numpy()


def save_png(path: Path, img: torch.Tensor) -> None:
    Image.fromarray(to_uint8(img)).save(path)


def keypoints_doc(kp: torch.Tensor, width: int, height: int, fps: float | None) -> dict:
    """keypoints.json: {layout, size [w, h], fps, frames: [[[x, y] × 68] per frame]} in pixels."""
    return {"layout": KEYPOINT_LAYOUT, "size": [width, height], "fps": fps,
            "frames": [[[round(float(x), 3), round(float(y), 3)] for x, y in frame] for frame in kp.tolist()]}


def attribute_names(attrs: Attributes, i: int) -> dict[str, str]:
    return {cls: catalog.STYLES[cls][int(attrs.style(cls)[i])] for cls in catalog.ATTRIBUTE_CLASSES}


def params_doc(seed: int, index: int, preset: str, ident: Identity, attrs: Attributes, motion: Motion, i: int) -> dict:
    return {"seed": seed, "index": index, "preset": preset, "attribute_names": attribute_names(attrs, i),
            "identity": ident.to_json()[i], "attributes": attrs.to_json()[i], "motion": motion.to_json()[i]}


def write_clip(out: Path, rgb: torch.Tensor, masks: torch.Tensor, kp: torch.Tensor, fps: float, params: dict) -> None:
    """One clip: frames/NNNN.png, masks/NNNN_<class>.png, keypoints.json, params.json."""
    (out / "frames").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(exist_ok=True)
    F, _, H, W = rgb.shape
    for f in range(F):
        save_png(out / "frames" / f"{f:04d}.png", rgb[f])
        for c, name in enumerate(catalog.MASK_CLASSES):
            save_png(out / "masks" / f"{f:04d}_{name}.png", masks[f, c])
    (out / "keypoints.json").write_text(json.dumps(keypoints_doc(kp, W, H, fps)))
    (out / "params.json").write_text(json.dumps(params, indent=1))


def write_image_with_sidecars(path: Path, rgb: torch.Tensor, masks: torch.Tensor, kp: torch.Tensor) -> list[Path]:
    """NAME.png plus NAME.keypoints.json and NAME.mask-<class>.png for every non-empty class."""
    _, H, W = rgb.shape
    save_png(path, rgb)
    written = [path]
    stem = path.with_suffix("")
    kp_path = Path(f"{stem}.keypoints.json")
    doc = keypoints_doc(kp[None], W, H, None)
    kp_path.write_text(json.dumps({**doc, "points": doc.pop("frames")[0]}))
    written.append(kp_path)
    for c, name in enumerate(catalog.MASK_CLASSES):
        if name == "background" or float(masks[c].max()) < 0.5:
            continue
        mp = Path(f"{stem}.mask-{name}.png")
        save_png(mp, masks[c])
        written.append(mp)
    return written


def write_video(path: Path, rgb: torch.Tensor, fps: float) -> None:
    """[F, 3, H, W] → H.264 yuv420p mp4 (plays in browsers)."""
    import imageio_ffmpeg

    F, _, H, W = rgb.shape
    writer = imageio_ffmpeg.write_frames(str(path), (W, H), fps=fps, codec="libx264", pix_fmt_out="yuv420p",
                                         quality=None, bitrate=None, macro_block_size=1,
                                         output_params=["-crf", "18", "-movflags", "+faststart"])
    writer.send(None)
    for f in range(F):
        writer.send(np.ascontiguousarray(to_uint8(rgb[f])))
    writer.close()
