"""denoise_check: the implied clean latent per noise level, on a tiny real model."""
from pathlib import Path

import pytest
import torch

from durian_export.components import Durian
from durian_export.config import load_config
from durian_export.denoise_check import denoise_check, main

TINY = Path(__file__).resolve().parents[1] / "configs" / "tiny.json"


def tiny(prediction_type: str) -> Durian:
    cfg = load_config(TINY, [f"prediction_type={prediction_type}"])
    torch.manual_seed(cfg.seed)
    return Durian(cfg)


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_a_denoiser_that_predicts_the_target_exactly_recovers_the_clean_latent(prediction_type, monkeypatch):
    """The x0 conversion, both parameterisations: an oracle's implied x0 is the truth at every t."""
    model = tiny(prediction_type)
    seen = {}
    real_add_noise = model.schedule.add_noise

    def add_noise(x0, noise, t):  # remember the draw, so the oracle can answer with the target
        seen.update(x0=x0, noise=noise, t=t)
        return real_add_noise(x0, noise, t)

    monkeypatch.setattr(model.schedule, "add_noise", add_noise)
    monkeypatch.setattr(model, "denoise", lambda *a, **k: model.schedule.target(seen["x0"], seen["noise"], seen["t"]))
    rows = denoise_check(model, batch=2, timesteps=(20, 500, 990))
    for r in rows:
        assert r["loss"] == 0.0
        assert r["x0_rel"] < 1e-3 and r["x0_rel_worst"] < 1e-3
        assert r["x0_psnr"] > 60


def test_dark_pixel_figures_score_the_dark_pixels_and_the_swapped_channel(monkeypatch):
    """With every pixel counted dark, the dark figure is the whole-frame one; taking the swapped
    channel from the truth changes the decoded frame (an untrained model had it wrong)."""
    import durian_export.denoise_check as dc

    model = tiny("epsilon")
    monkeypatch.setattr(dc, "DARK", 1.01)
    monkeypatch.setattr(dc, "DARK_CHANNEL", 1)
    rows = denoise_check(model, batch=2, timesteps=(500, 990))
    for r in rows:
        assert r["x0_psnr_dark"] == pytest.approx(r["x0_psnr"], abs=1e-4)
        assert r["x0_psnr_dark_c9"] != r["x0_psnr_dark"]
    monkeypatch.setattr(dc, "DARK", -1.0)  # no dark pixel: no dark figures
    assert "x0_psnr_dark" not in denoise_check(model, batch=2, timesteps=(500,))[0]


def test_an_untrained_denoiser_loses_the_frame_as_noise_grows(tmp_path):
    """The real UNet, untrained (it outputs about zero, so x0 is the noisy latent rescaled): the
    implied x0 is near the truth at little noise and lost near t = 1000; the table is written."""
    rows = denoise_check(tiny("epsilon"), batch=2, timesteps=(20, 500, 990))
    rel, db = [r["x0_rel"] for r in rows], [r["x0_psnr"] for r in rows]
    assert rel[0] < 1 < rel[1] < rel[2]
    assert db[0] > db[1] > db[2]


def test_the_command_compares_runs_and_writes_json(tmp_path, capsys):
    import json

    from durian_export.train import main as train_main

    run = tmp_path / "r"
    train_main(["--config", str(TINY), "--stage", "stage1", "--steps", "1", "--device", "cpu", "--out", str(run)])
    out = tmp_path / "dc.json"
    main(["--checkpoint", str(run), "--batch", "2", "--timesteps", "20,990", "--json", str(out)])
    figures = json.loads(out.read_text())
    assert list(figures) == [str(run)] and [r["t"] for r in figures[str(run)]] == [20, 990]
    table = capsys.readouterr().out
    assert "| t=20 | t=990 |" in table and "x0 decoded, dB" in table


def test_clips_are_checked_on_every_frame(monkeypatch):
    """With --frames, the UNet sees whole clips and every frame is decoded: an oracle recovers each."""
    model = tiny("epsilon")
    seen = {}
    real_add_noise = model.schedule.add_noise

    def add_noise(x0, noise, t):
        seen.update(x0=x0, noise=noise, t=t)
        return real_add_noise(x0, noise, t)

    decoded = []
    real_decode = model.decode
    monkeypatch.setattr(model.schedule, "add_noise", add_noise)
    monkeypatch.setattr(model, "denoise", lambda *a, **k: model.schedule.target(seen["x0"], seen["noise"], seen["t"]))
    monkeypatch.setattr(model, "decode", lambda z: decoded.append(z.shape[0]) or real_decode(z))
    rows = denoise_check(model, batch=2, timesteps=(500,), frames=3)
    assert seen["x0"].shape[2] == 3
    assert decoded and set(decoded) == {6}  # 2 people × 3 frames, truth and prediction alike
    assert rows[0]["x0_psnr"] > 60


def test_the_command_adds_each_run_with_its_temporal_layers_off(tmp_path):
    """--temporal-off: a second row set per run. A stage-1 run's temporal layers are still at their
    zero-output init, so switching them off changes nothing; after stage 2 it does."""
    import json

    from durian_export.train import main as train_main

    run = tmp_path / "r"
    train_main(["--config", str(TINY), "--stage", "stage1", "--steps", "1", "--device", "cpu", "--out", str(run)])
    out = tmp_path / "dc.json"
    args = ["--checkpoint", str(run), "--batch", "2", "--frames", "2", "--timesteps", "300,900", "--temporal-off",
            "--json", str(out)]
    main(args)
    figures = json.loads(out.read_text())
    on, off = figures[str(run)], figures[f"{run} (layers off)"]
    assert [r["x0_rel"] for r in on] == [r["x0_rel"] for r in off]
    train_main(["--config", str(TINY), "--stage", "stage2", "--steps", "2", "--device", "cpu", "--out", str(run),
                "--resume", "lr=1e-2", "warmup=0"])
    main(args)
    figures = json.loads(out.read_text())
    on, off = figures[str(run)], figures[f"{run} (layers off)"]
    assert [r["x0_rel"] for r in on] != [r["x0_rel"] for r in off]
