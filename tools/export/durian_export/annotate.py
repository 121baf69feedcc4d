"""python -m durian_export.annotate --videos DIR --out DIR [--size 256] [--max-frames N] [--fps F] [--force]

Real portrait videos → training clips in the format data/clips.py reads. The analysis is the
product's own: each video goes through `durian guide --analyser face --masks` (the ONNX face
front end of models/face, run by the TypeScript CLI), which writes the 68 keypoints, a per-frame
tracked flag and the class masks at the size it tracked the video at. Here the frames are decoded
at that same size, one square crop is chosen per clip, and frames, masks and keypoints are cropped,
resized to --size and written as

    OUT/<clip>/frames/0000.png …   OUT/<clip>/masks/0000_<class>.png …   OUT/<clip>/keypoints.json

Crop rule (one box per clip, so head motion stays in the clip): per tracked frame, the bounding box
of the 68 keypoints (brows to chin, ear to ear); the crop is centred on the median box centre, with
side CROP_SCALE × the median of the boxes' longer sides. It is shifted to stay inside the frame
where it fits; where it is larger than the frame, the missing border repeats the edge pixels (of
frames and masks alike, so the padding stays background or clothes rather than a class-less hole).

Frames the CLI lost are dropped; a video with fewer than MIN_FRAMES tracked frames is skipped.
Exit codes: 0 ok, 1 runtime failure, 2 usage or pre-check (the CLI not built, node missing).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import imageio_ffmpeg
import numpy as np
from PIL import Image

from .cli import ROOT, cli_available, run_durian
from .synth import catalog

VIDEO_SUFFIXES = (".mp4", ".webm", ".mov", ".mkv", ".avi")
CROP_SCALE = 2.2
MIN_FRAMES = 3
#: the CLI's exit code for a rejected input (no face in any frame)
INPUT_REJECTED = 3


class UsageError(Exception):
    """Bad flags or a failed pre-check: exit 2."""


class AnnotateError(Exception):
    """A video could not be processed: exit 1."""


# --- the CLI and ffmpeg ---------------------------------------------------------------------------

def run_guide(video: Path, work: Path, max_frames: int | None) -> dict | str:
    """`durian guide` on one video: its keypoint document (with "tracked"), masks under work/masks.
    Returns the CLI's message instead when it rejects the input (no face found)."""
    args = ["guide", "--video", str(video), "--analyser", "face", "--masks", str(work / "masks"), "-o", str(work / "kp.json"),
            "--json"]
    if max_frames is not None:
        args += ["--frames", str(max_frames)]
    r = run_durian(args)
    message = (r.stderr.strip().splitlines() or ["(no message)"])[0].removeprefix("durian: error: ").removeprefix(f"{video}: ")
    if r.returncode == INPUT_REJECTED:
        return message
    if r.returncode != 0 or not r.stdout.strip():
        raise AnnotateError(f"durian guide failed on {video} (exit {r.returncode}): {message}")
    doc = json.loads((work / "kp.json").read_text())
    if doc.get("source") != "face" or len(doc.get("tracked", [])) != len(doc["frames"]):
        raise AnnotateError(f"durian guide on {video}: expected face-tracked keypoints with per-frame tracked flags")
    return doc


def decode_frames(video: Path, width: int, height: int, max_frames: int | None) -> np.ndarray:
    """Frames [F, H, W, 3] uint8 at width×height, decoded with the arguments of the CLI's
    buildDecodeArgs (src/media/ffmpeg-args.ts), so frame i is the frame the CLI tracked."""
    args = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-nostdin", "-i", str(video), "-map", "0:v:0",
            "-vf", f"scale={width}:{height}", "-vsync", "passthrough",
            *(["-frames:v", str(max_frames)] if max_frames is not None else []),
            "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
    r = subprocess.run(args, capture_output=True)
    if r.returncode != 0:
        raise AnnotateError(f"cannot decode {video}: {r.stderr.decode(errors='replace').strip().splitlines()[-1:]}")
    frame_bytes = width * height * 3
    n = len(r.stdout) // frame_bytes
    return np.frombuffer(r.stdout[:n * frame_bytes], np.uint8).reshape(n, height, width, 3)


def resample(video: Path, fps: float, out: Path) -> Path:
    """The video at `fps` frames per second, losslessly re-encoded (FFV1 in Matroska), so the CLI
    and decode_frames see the same resampled frames."""
    args = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-nostdin", "-i", str(video), "-map", "0:v:0",
            "-vf", f"fps={fps}", "-c:v", "ffv1", str(out)]
    r = subprocess.run(args, capture_output=True)
    if r.returncode != 0:
        raise AnnotateError(f"cannot resample {video} to {fps} fps: {r.stderr.decode(errors='replace').strip().splitlines()[-1:]}")
    return out


# --- crop ------------------------------------------------------------------------------------------

def choose_crop(keypoints: np.ndarray, width: int, height: int) -> tuple[int, int, int]:
    """One square (x0, y0, side) in pixels for the clip from its tracked keypoints [F, 68, 2]; see
    the module docstring. x0, y0 may be negative (or the box overhang the frame) only where side
    exceeds the frame's width or height."""
    lo, hi = keypoints.min(1), keypoints.max(1)  # [F, 2] each
    cx, cy = np.median((lo + hi) / 2, axis=0)
    side = int(round(CROP_SCALE * float(np.median((hi - lo).max(1)))))
    assert side > 0, "degenerate keypoints"
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    x0 = min(max(x0, 0), width - side) if side <= width else int(round((width - side) / 2))
    y0 = min(max(y0, 0), height - side) if side <= height else int(round((height - side) / 2))
    return x0, y0, side


def crop_resize(img: np.ndarray, box: tuple[int, int, int], size: int, method: Image.Resampling) -> Image.Image:
    """The square box of img ([H, W] or [H, W, 3] uint8; the border repeated outside) at size×size."""
    x0, y0, side = box
    h, w = img.shape[:2]
    pad = [(max(0, -y0), max(0, y0 + side - h)), (max(0, -x0), max(0, x0 + side - w))] + [(0, 0)] * (img.ndim - 2)
    padded = np.pad(img, pad, mode="edge")
    y, x = y0 + pad[0][0], x0 + pad[1][0]
    return Image.fromarray(padded[y:y + side, x:x + side]).resize((size, size), method)


# --- one clip --------------------------------------------------------------------------------------

def write_clip(target: Path, frames: np.ndarray, masks_dir: Path, indices: list[int], keypoints: np.ndarray,
               box: tuple[int, int, int], size: int) -> None:
    """Writes frames[indices] with their masks and keypoints into a temporary folder beside target,
    then renames it onto target (replacing one that exists)."""
    partial = target.parent / f".{target.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        (partial / "frames").mkdir(parents=True)
        (partial / "masks").mkdir()
        for j, i in enumerate(indices):
            crop_resize(frames[i], box, size, Image.Resampling.BICUBIC).save(partial / "frames" / f"{j:04d}.png")
            for c in catalog.MASK_CLASSES:
                mask = np.asarray(Image.open(masks_dir / f"{i:04d}_{c}.png").convert("L"))
                crop_resize(mask, box, size, Image.Resampling.BILINEAR).save(partial / "masks" / f"{j:04d}_{c}.png")
        x0, y0, side = box
        kp = (keypoints[indices] - [x0, y0]) * (size / side)
        doc = {"layout": "ibug68", "size": [size, size], "frames": np.round(kp, 3).tolist()}
        (partial / "keypoints.json").write_text(json.dumps(doc))
        if target.exists():
            shutil.rmtree(target)
        partial.rename(target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def annotate_video(video: Path, target: Path, size: int, max_frames: int | None, fps: float | None) -> dict:
    """One video → one clip; returns its summary, with "skipped" set to the reason when no clip was written."""
    with tempfile.TemporaryDirectory(prefix="durian-annotate-") as tmp:
        work = Path(tmp)
        source = resample(video, fps, work / "resampled.mkv") if fps is not None else video
        doc = run_guide(source, work, max_frames)
        if isinstance(doc, str):
            return {"video": str(video), "skipped": doc}
        tracked = [i for i, t in enumerate(doc["tracked"]) if t]
        total = len(doc["tracked"])
        if len(tracked) < MIN_FRAMES:
            return {"video": str(video), "skipped": f"{len(tracked)} of {total} frames tracked, need at least {MIN_FRAMES}"}
        width, height = doc["size"]
        frames = decode_frames(source, width, height, max_frames)
        if len(frames) != total:
            raise AnnotateError(f"{video}: decoded {len(frames)} frames but durian guide tracked {total}")
        keypoints = np.asarray(doc["frames"], dtype=np.float64)  # [F, 68, 2]
        box = choose_crop(keypoints[tracked], width, height)
        write_clip(target, frames, work / "masks", tracked, keypoints, box, size)
        return {"name": target.name, "video": str(video), "frames": len(tracked), "tracked_fraction": round(len(tracked) / total, 4),
                "crop": {"x": box[0], "y": box[1], "side": box[2], "of": [width, height]}}


# --- command line ----------------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2 (argparse prints the whole usage)
        raise UsageError(message)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    ap = _Parser(prog="python -m durian_export.annotate", description=__doc__.split("\n\n")[1])
    ap.add_argument("--videos", type=Path, required=True, help=f"folder of videos ({', '.join(VIDEO_SUFFIXES)})")
    ap.add_argument("--out", type=Path, required=True, help="folder of clips (created if missing)")
    ap.add_argument("--size", type=int, default=256, help="side of the written square frames (default 256)")
    ap.add_argument("--max-frames", type=int, help="at most this many frames per video")
    ap.add_argument("--fps", type=float, help="resample every video to this frame rate first")
    ap.add_argument("--force", action="store_true", help="replace clips that exist in --out")
    a = ap.parse_args(argv)
    if a.size < 16:
        raise UsageError(f"--size must be at least 16, got {a.size}")
    if a.max_frames is not None and a.max_frames < 1:
        raise UsageError(f"--max-frames must be a positive integer, got {a.max_frames}")
    if a.fps is not None and not a.fps > 0:
        raise UsageError(f"--fps must be positive, got {a.fps}")
    if not a.videos.is_dir():
        raise UsageError(f"--videos {a.videos}: not a folder")
    return a


def _clip_names(videos: list[Path]) -> list[str]:
    """The video's stem, or its whole name with the dot as '-' where two videos share a stem."""
    stems = [v.stem for v in videos]
    return [v.stem if stems.count(v.stem) == 1 else v.name.replace(".", "-") for v in videos]


def main(argv: list[str] | None = None) -> dict:
    a = _parse(argv)
    videos = sorted(p for p in a.videos.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
    if not videos:
        raise UsageError(f"--videos {a.videos}: no {'/'.join(s[1:] for s in VIDEO_SUFFIXES)} files")
    if not cli_available():
        raise UsageError(f"needs node and the built CLI ({ROOT / 'dist'}); run `npm run build` in {ROOT}")
    names = _clip_names(videos)
    existing = [n for n in names if (a.out / n).exists()]
    if existing and not a.force:
        raise UsageError(f"{a.out}: clips exist ({', '.join(existing[:3])}); pass --force to replace them")
    a.out.mkdir(parents=True, exist_ok=True)
    clips, skipped = [], []
    for video, name in zip(videos, names):
        r = annotate_video(video, a.out / name, a.size, a.max_frames, a.fps)
        if "skipped" in r:
            print(f"annotate: skipped {video.name}: {r['skipped']}", file=sys.stderr)
            skipped.append(r)
        else:
            clips.append(r)
    summary = {"ok": True, "out": str(a.out.resolve()), "written": len(clips), "frames": sum(c["frames"] for c in clips),
               "clips": clips, "skipped": skipped}
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    try:
        main()
    except UsageError as e:
        print(f"annotate: error: {e}", file=sys.stderr)
        sys.exit(2)
    except AnnotateError as e:
        print(f"annotate: error: {e}", file=sys.stderr)
        sys.exit(1)
