"""The quality benchmark's parts (issues 6, 18): alignment as the CLI does it, the covered-pixel
mask, paired comparisons, and tiny runs through the real CLI (`durian batch`) on the committed tiny
model. The metrics themselves: test_metrics.py."""
import copy
import json

import numpy as np
import pytest
import torch

from durian_export.cli import ROOT, cli_available
from durian_export.eval import coverage, estimate_similarity, warp
from durian_export.eval import main as eval_main
from durian_export.eval_report import summarise


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


def test_coverage_marks_only_pixels_the_warped_source_fills():
    # a turn, a shrink and a shift: parts of the frame come from outside the source
    a, sc = 0.4, 0.8
    m = np.array([[sc * np.cos(a), -sc * np.sin(a), 10.0], [sc * np.sin(a), sc * np.cos(a), -20.0]])
    cov = coverage(m, (64, 64), 64)
    assert cov.dtype == torch.bool and cov.shape == (1, 1, 64, 64)
    img = torch.rand(1, 3, 64, 64) + 0.5  # no zero pixel in the source
    warped = warp(img, m, 64)
    assert bool((warped[:, :, cov[0, 0]] > 0.49).all())        # covered: real content
    assert float(warped[:, :, ~cov[0, 0]].min()) < 0.49        # the rest holds the zero padding
    assert 0.3 < float(cov.float().mean()) < 0.95
    assert bool(coverage(np.array([[1.0, 0, 0], [0, 1.0, 0]]), (64, 64), 64).all())


def test_summary_compares_ours_with_each_baseline_case_by_case():
    rng = np.random.default_rng(0)
    scores = []
    for i in range(16):
        level = rng.normal(18, 2)  # cases differ a lot; ours is 1 dB above the baseline on each
        row = {"kind": "transfer", "cls": "hat"}
        for name, off in (("ours", 1.0), ("baseline", 0.0), ("plain", 1.0)):
            row[name] = {"psnr": level + off + rng.normal(0, 0.1), "ssim": 0.8, "l1": 0.05, "attr_l1": 0.1,
                         "identity_l1": 0.05, "left_eye_l1": 0.1, "right_eye_l1": 0.1, "mouth_l1": 0.1}
        scores.append(row)
    table = summarise(scores)["transfer/hat"]
    vs = table["vs"]["baseline"]["psnr"]
    assert table["cases"] == 16 and vs["low"] > 0.8 and vs["high"] < 1.2
    plain = table["vs"]["plain"]["psnr"]
    assert plain["low"] < 0 < plain["high"]


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
    assert {"keypoint_error_px", "jitter_px", "attr_l1", "identity_l1", "left_eye_l1", "right_eye_l1",
            "mouth_l1", "gt_parser_error_px", "gt_parser_jitter_px"} <= set(transfer["ours"])
    # the parser's floor is the ground truth's, the same for every method of a case
    assert transfer["ours"]["gt_parser_error_px"] == transfer["baseline"]["gt_parser_error_px"]
    assert 0.5 < transfer["covered_fraction"] <= 1
    assert set(result["table"]["transfer/hat"]["vs"]) == {"baseline", "plain"}  # one case each: no interval yet
    assert result["timing"]["cli_jobs"] == 3 * 7 + 2
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
    draws another held-out split for tuning; --guidance-scale, --eta and --noise-correlation reach the
    CLI jobs."""
    model = ROOT / "test" / "fixtures" / "onnx-tiny"
    with pytest.raises(SystemExit, match="training data"):
        eval_main(["--model", str(model), "--out", str(tmp_path / "x"), "--case-seed", "5"])
    with pytest.raises(SystemExit, match="no such case group"):
        eval_main(["--model", str(model), "--out", str(tmp_path / "y"), "--only", "transfer/tiara"])
    eval_main(["--model", str(model), "--out", str(tmp_path / "v"), "--per-class", "1", "--frames", "2", "--steps", "1",
               "--only", "transfer/glasses", "--case-seed", "2000000", "--guidance-scale", "1.5",
               "--eta", "1", "--noise-correlation", "0.5"])
    result = json.loads((tmp_path / "v" / "benchmark.json").read_text())
    assert set(result["table"]) == {"transfer/glasses"}
    assert [p.name for p in (tmp_path / "v" / "cases").iterdir()] == ["003-transfer-glasses"]
    jobs = [json.loads(line) for f in sorted((tmp_path / "v").glob("jobs-*.jsonl")) for line in f.read_text().splitlines()]
    assert len(jobs) == 3 and all(j["guidanceScale"] == 1.5 and j["eta"] == 1 and j["noiseCorrelation"] == 0.5 for j in jobs)
    assert "--case-seed 2000000 --guidance-scale 1.5 --eta 1.0 --noise-correlation 0.5" in (tmp_path / "v" / "benchmark.md").read_text()


@pytest.mark.skipif(not cli_available(),
                    reason="needs the built CLI (npm run build) and node")
def test_ours_only_runs_compare_case_by_case(tmp_path):
    """--ours-only runs just the model (no baseline jobs, no baseline scores); eval_compare pairs two
    such runs case by case: a run against itself differs by exactly 0, a different setting (eta)
    gives a row per metric with its interval, and runs over other cases are refused."""
    from durian_export.eval_compare import compare_runs, load_cases
    from durian_export.eval_compare import main as compare_main

    model = ROOT / "test" / "fixtures" / "onnx-tiny"
    common = ["--model", str(model), "--per-class", "2", "--frames", "3", "--steps", "2", "--only", "transfer/hat",
              "--case-seed", "2000000", "--ours-only"]
    eval_main([*common, "--out", str(tmp_path / "a")])
    eval_main([*common, "--out", str(tmp_path / "b"), "--eta", "1"])
    jobs = [json.loads(line) for f in sorted((tmp_path / "a").glob("jobs-*.jsonl")) for line in f.read_text().splitlines()]
    assert len(jobs) == 2 and all(j["output"].endswith("/ours/") for j in jobs)
    assert "Paired differences" not in (tmp_path / "a" / "benchmark.md").read_text()
    a, b = load_cases(tmp_path / "a"), load_cases(tmp_path / "b")
    assert [c["case"] for c in a] == [c["case"] for c in b] and all(set(c) & {"baseline", "plain"} == set() for c in a)
    same = compare_runs(a, a)["transfer/hat"]
    assert same["cases"] == 2 and same["psnr"]["mean"] == 0 and same["psnr"]["low"] == same["psnr"]["high"] == 0
    diff = compare_runs(a, b)["transfer/hat"]
    assert {"psnr", "ssim", "attr_l1", "jitter_px", "attr_colour_drift"} <= set(diff)
    # a run scored before a metric existed still compares, on the metrics both have, either way round
    older = copy.deepcopy(a)
    for c in older:
        del c["ours"]["attr_colour_drift"]
    assert "attr_colour_drift" not in compare_runs(older, b)["transfer/hat"]
    assert "attr_colour_drift" not in compare_runs(b, older)["transfer/hat"]
    assert diff["psnr"]["mean"] == pytest.approx(np.mean([y["ours"]["psnr"] - x["ours"]["psnr"] for x, y in zip(a, b)]))
    with pytest.raises(SystemExit, match="different cases"):
        compare_runs(a, b[:1])
    compare_main([str(tmp_path / "a"), str(tmp_path / "b"), "--json", str(tmp_path / "cmp.json")])
    assert json.loads((tmp_path / "cmp.json").read_text())["transfer/hat"]["cases"] == 2
    # the side-by-side sheet of the two runs: a header, then per case identity, attribute, truth and
    # each run at the chosen frames, the outputs pixel for pixel those the CLI wrote
    from PIL import Image

    from durian_export.eval_sheet import main as sheet_main
    number = int(a[1]["case"][:3])
    sheet_main([str(tmp_path / "s.png"), str(tmp_path / "a"), str(tmp_path / "b"), "--cases", str(number),
                "--frames", "1,2", "--names", "a,b"])
    size = json.loads((model / "manifest.json").read_text())["resolution"][0]
    sheet = np.asarray(Image.open(tmp_path / "s.png"))
    assert sheet.shape == (18 + size, 8 * size, 3)
    wrote = np.asarray(Image.open(tmp_path / "b" / "cases" / a[1]["case"] / "ours" / "0002.png").convert("RGB"))
    assert np.array_equal(sheet[18:, 7 * size:], wrote)
    with pytest.raises(SystemExit, match="no case 99"):
        sheet_main([str(tmp_path / "t.png"), str(tmp_path / "a"), "--cases", "99"])
    with pytest.raises(SystemExit, match="output frames 1..3"):
        sheet_main([str(tmp_path / "t.png"), str(tmp_path / "a"), "--cases", str(number), "--frames", "4"])
    import shutil
    other = tmp_path / "other" / "cases" / a[1]["case"]
    shutil.copytree(tmp_path / "a" / "cases" / a[1]["case"], other)
    shutil.copy(other / "attr.png", other / "identity.png")  # as if another case with the same number
    with pytest.raises(SystemExit, match="different cases"):
        sheet_main([str(tmp_path / "t.png"), str(tmp_path / "a"), str(tmp_path / "other"), "--cases", str(number)])
    assert not (tmp_path / "t.png").exists()
    # each run records the parser that read its keypoints; runs read by different parsers do not
    # compare on motion (the same run, as if scored by another parser)
    import hashlib
    run_b = json.loads((tmp_path / "b" / "benchmark.json").read_text())
    assert run_b["keypoint_parser"]["sha256"] == hashlib.sha256((model / "parser.onnx").read_bytes()).hexdigest()
    run_b["keypoint_parser"]["sha256"] = "0" * 64
    (tmp_path / "c.json").write_text(json.dumps(run_b))
    compare_main([str(tmp_path / "a"), str(tmp_path / "c.json"), "--json", str(tmp_path / "cmp2.json")])
    row = json.loads((tmp_path / "cmp2.json").read_text())["transfer/hat"]
    assert "psnr" in row and not {"jitter_px", "keypoint_error_px"} & set(row)
    with pytest.raises(SystemExit, match="no parser.onnx"):
        eval_main([*common, "--out", str(tmp_path / "d"), "--keypoint-parser", str(tmp_path)])
    # parser_check reads the run's cases with each parser; one parser twice differs by nothing
    from durian_export.parser_check import check
    pc = check(tmp_path / "a", [model, model])
    assert pc["cases"] == 2 and len(pc["parsers"]) == 2
    first, again = pc["parsers"]
    assert first["out_error_px"] > 0 and first["gt_error_px"] > 0 and first["out_offset_px"] <= first["out_error_px"]
    assert again["vs_first"]["out_error_px"]["mean"] == 0
    # and the benchmark's own motion scores are the parser's reading of the same frames
    ours = [c["ours"] for c in a]
    assert first["out_error_px"] == pytest.approx(np.mean([o["keypoint_error_px"] for o in ours]), rel=1e-5)
    assert first["gt_error_px"] == pytest.approx(np.mean([o["gt_parser_error_px"] for o in ours]), rel=1e-5)
    # region_colour reads the same cases: the attribute region's mean colour of the truth, its VAE
    # round trip and the output. Frames that are a known function of the aligned truth give that
    # function's mean back (to 8-bit rounding)
    from durian_export.eval_cases import model_frame
    from durian_export.region_colour import main as colour_main
    colour_main([str(tmp_path / "a"), "--model", str(model), "--groups", "hat", "--json", str(tmp_path / "rc.json")])
    rc = json.loads((tmp_path / "rc.json").read_text())["transfer/hat"]
    assert rc["summary"]["cases"] == len(rc["cases"]) >= 1 and all(len(c["round_trip"]) == 3 for c in rc["cases"])
    lit = tmp_path / "lit"
    shutil.copytree(tmp_path / "a", lit)
    _, size, template = model_frame(model)
    for c in rc["cases"]:
        d = lit / "cases" / c["case"]
        t = torch.load(d / "truth.pt")
        gt = warp(torch.stack([torch.from_numpy(np.asarray(Image.open(f).convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1)
                               for f in sorted((d / "gt").glob("*.png"))]),
                  estimate_similarity(t["portrait_kp"].numpy(), template), size)
        for k, frame in enumerate(gt * 0.8 + 0.15, start=1):
            Image.fromarray((frame.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(d / "ours" / f"{k:04d}.png")
    colour_main([str(lit), "--model", str(model), "--groups", "hat", "--json", str(tmp_path / "rc-lit.json")])
    for c in json.loads((tmp_path / "rc-lit.json").read_text())["transfer/hat"]["cases"]:
        assert c["output"] == pytest.approx([0.15 + 0.8 * v for v in c["truth"]], abs=3e-3)
    with pytest.raises(SystemExit, match="no attribute class"):
        colour_main([str(lit), "--model", str(model), "--groups", "tiara"])
    # --groups iris: the discs at the truth's eye centres in every case; the same known function there,
    # and the summary's L1 is that function's distance from the truth
    colour_main([str(lit), "--model", str(model), "--groups", "iris", "--json", str(tmp_path / "iris.json")])
    iris = json.loads((tmp_path / "iris.json").read_text())["iris: transfer/hat"]
    assert iris["summary"]["cases"] == len(rc["cases"])
    for c in iris["cases"]:
        assert c["output"] == pytest.approx([0.15 + 0.8 * v for v in c["truth"]], abs=3e-3)
    want = np.mean([[abs(0.15 - 0.2 * v) for v in c["truth"]] for c in iris["cases"]])
    assert iris["summary"]["output_l1"] == pytest.approx(want, abs=3e-3)
    # and the benchmark scores the irises' colour per case
    assert all(0 <= c["ours"]["iris_colour_l1"] < 1 for c in a if "ours" in c)
    # jitter_floor reads the same cases: its truth, parsed-truth and output columns are the
    # benchmark's own motion scores of those cases; the VAE round trip sits beside them
    from durian_export.jitter_floor import main as floor_main
    floor_main([str(tmp_path / "a"), "--model", str(model), "--json", str(tmp_path / "jf.json")])
    jf = json.loads((tmp_path / "jf.json").read_text())["transfer/hat"]
    scored = {c["case"]: c["ours"] for c in a}
    for c in jf["cases"]:
        o = scored[c["case"]]
        assert c["truth"] == pytest.approx(o["gt_jitter_px"], rel=1e-5)
        assert c["truth_parsed"] == pytest.approx(o["gt_parser_jitter_px"], rel=1e-5)
        assert c["output_parsed"] == pytest.approx(o["jitter_px"], rel=1e-5)
        assert c["round_trip_parsed"] >= 0
    assert jf["summary"]["cases"] == 2 and "output_minus_round_trip" in jf["summary"]
    with pytest.raises(SystemExit, match="not an eval run"):
        floor_main([str(tmp_path), "--model", str(model)])


def test_the_parser_floor_is_what_the_ground_truth_itself_scores():
    """motion_scores on the ground-truth frames scores exactly the floor it reports."""
    from durian_export.eval import motion_scores, parse_keypoints

    model = ROOT / "test" / "fixtures" / "onnx-tiny"
    frames = torch.rand(5, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    kp = np.random.default_rng(0).uniform(0, 64, (5, 68, 2)).astype(np.float32)
    s = motion_scores(model, frames, kp, parse_keypoints(model, frames))
    assert s["keypoint_error_px"] == s["gt_parser_error_px"] and s["jitter_px"] == s["gt_parser_jitter_px"]
    assert s["jitter_px"] > 0 and s["gt_jitter_px"] > 0


def test_a_report_of_interpolation_cases_alone_has_no_empty_tables(tmp_path):
    from types import SimpleNamespace

    from durian_export.eval_report import write_report

    table = {"interpolation/hair": {"cases": 2, "monotonic_fraction": 0.75, "start": {"psnr": 20.0, "attr_l1": 0.1},
                                    "end": {"psnr": 21.0, "attr_l1": 0.12}}}
    args = SimpleNamespace(model="m", per_class=2, combos=0, frames=6, steps=16, seed=0, case_seed=2000000,
                           only="interpolation/hair", guidance_scale=None, eta=None, noise_correlation=None,
                           ours_only=True)
    text = write_report(tmp_path, table, args).read_text()
    assert "non-decreasing over 75 % of frame steps" in text
    assert "| cases | method |" not in text and "Motion" not in text


def test_a_faster_guide_is_the_same_motion_sampled_further_apart(tmp_path):
    """eval --motion-speed S: the driver of each case moves S times as fast; its guide frame k shows
    what frame S·k of the plain guide shows, and the guide still says 25 fps."""
    from durian_export.eval_cases import build_case, driver_fps

    spec = (0, "transfer", "hat", None)
    fast = build_case(tmp_path / "fast", spec, 64, 2, 2_000_000, speed=3.0)
    plain = build_case(tmp_path / "plain", spec, 64, 6, 2_000_000)
    read = lambda c: json.loads((tmp_path / c / "cases" / "000-transfer-hat" / "guide.json").read_text())  # noqa: E731
    f, p = read("fast"), read("plain")
    assert fast["frames"] == 2 and plain["frames"] == 6 and f["fps"] == p["fps"] == 25.0
    assert len(f["frames"]) == 3 and len(p["frames"]) == 7
    np.testing.assert_allclose(np.array(f["frames"], dtype=float), np.array(p["frames"], dtype=float)[[0, 3, 6]],
                               atol=1e-3)
    assert not np.allclose(np.array(f["frames"][1], dtype=float), np.array(p["frames"][1], dtype=float), atol=1e-2)
    with pytest.raises(ValueError, match="speed"):
        driver_fps(0)
