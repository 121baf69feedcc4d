"""The quality benchmark's parts (issue 6): alignment as the CLI does it, metrics, and one tiny run
through the real CLI (`durian batch`) on the committed tiny model."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from durian_export.cli import ROOT, cli_available
from durian_export.eval import estimate_similarity, main as eval_main, psnr, region_l1, ssim, warp


def test_similarity_and_warp_match_the_cli_conventions():
    src = np.array([[10, 10], [50, 12], [30, 40], [25, 60], [44, 33]], dtype=np.float64)
    a, s = 0.3, 1.7
    m = np.array([[s * np.cos(a), -s * np.sin(a), 5], [s * np.sin(a), s * np.cos(a), -3]])
    dst = src @ m[:, :2].T + m[:, 2]
    np.testing.assert_allclose(estimate_similarity(src, dst), m, atol=1e-9)
    img = torch.zeros(1, 1, 16, 16)
    img[0, 0, 5, 3] = 1  # pixel (x=3, y=5) moves by (+4, +2), as in test/unit/face/align.test.ts
    out = warp(img, np.array([[1, 0, 4], [0, 1, 2]], dtype=np.float64), 16)
    assert float(out[0, 0, 7, 7]) == pytest.approx(1, abs=1e-5)
    assert float(out.sum()) == pytest.approx(1, abs=1e-5)


def test_metrics():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 32, 32, generator=g)
    y = (x + 0.1 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    assert ssim(x, x) == pytest.approx(1, abs=1e-6) and ssim(x, y) < 0.95
    assert psnr(x, x) == 99.0 and 15 < psnr(x, y) < 25
    mask = torch.zeros(2, 1, 32, 32)
    mask[..., :16] = 1
    z = x.clone()
    z[..., 16:] += 0.5
    assert region_l1(z, x, mask) == 0 and region_l1(z, x, 1 - mask) == pytest.approx(0.5, abs=1e-6)


@pytest.mark.skipif(not cli_available(),
                    reason="needs the built CLI (npm run build) and node")
def test_benchmark_runs_through_the_cli(tmp_path, capsys):
    model = ROOT / "test" / "fixtures" / "onnx-tiny"
    eval_main(["--model", str(model), "--out", str(tmp_path), "--per-class", "1", "--frames", "2", "--steps", "1",
               "--combos", "2"])
    result = json.loads((tmp_path / "benchmark.json").read_text())
    assert set(result["table"]) == {"self/hair", "transfer/hair", "transfer/hat", "transfer/glasses", "transfer/beard",
                                    "composition/hat+glasses", "interpolation/hair", "combo/hair"}
    for case in result["cases"]:
        for name in ("ours", "baseline", "plain", "start", "end"):
            if name in case:
                assert all(np.isfinite(v) for v in case[name].values())
    transfer = next(c for c in result["cases"] if c["kind"] == "transfer")
    assert {"keypoint_error_px", "jitter_px", "attr_l1", "identity_l1"} <= set(transfer["ours"])
    assert {"psnr", "attr_l1"} <= set(transfer["plain"])  # the plain-animator baseline ran too
    interp = next(c for c in result["cases"] if c["kind"] == "interpolation")
    assert len(interp["change"]) == 3 and interp["change"][0] == 0
    assert (tmp_path / "benchmark.png").exists()
    frames = sorted((tmp_path / "cases").glob("*-transfer-hat/ours/*.png"))
    assert len(frames) == 3  # the portrait's own pose + 2 scored frames
    assert "| transfer/glasses (1) | ours |" in (tmp_path / "benchmark.md").read_text()
    # the held-out-combination cases' donors wear exactly a combination training never renders
    combos = [c for c in result["cases"] if c["kind"] == "combo"]
    assert len(combos) == 2 and all("baseline" in c for c in combos)


@pytest.mark.skipif(not cli_available(),
                    reason="needs the built CLI (npm run build) and node")
def test_benchmark_subset_on_a_validation_seed(tmp_path):
    """--only runs just the named groups (as the same cases they are in the full set); --case-seed
    draws another held-out split for tuning; --guidance-scale reaches the CLI jobs."""
    model = ROOT / "test" / "fixtures" / "onnx-tiny"
    with pytest.raises(SystemExit, match="training data"):
        eval_main(["--model", str(model), "--out", str(tmp_path / "x"), "--case-seed", "5"])
    with pytest.raises(SystemExit, match="no such case group"):
        eval_main(["--model", str(model), "--out", str(tmp_path / "y"), "--only", "transfer/tiara"])
    eval_main(["--model", str(model), "--out", str(tmp_path / "v"), "--per-class", "1", "--frames", "2", "--steps", "1",
               "--only", "transfer/glasses", "--case-seed", "2000000", "--guidance-scale", "1.5"])
    result = json.loads((tmp_path / "v" / "benchmark.json").read_text())
    assert set(result["table"]) == {"transfer/glasses"}
    assert [p.name for p in (tmp_path / "v" / "cases").iterdir()] == ["003-transfer-glasses"]
    jobs = [json.loads(line) for line in (tmp_path / "v" / "jobs.jsonl").read_text().splitlines()]
    assert len(jobs) == 3 and all(j["guidanceScale"] == 1.5 for j in jobs)
    assert "--case-seed 2000000 --guidance-scale 1.5" in (tmp_path / "v" / "benchmark.md").read_text()
