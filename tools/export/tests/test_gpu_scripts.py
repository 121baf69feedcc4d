"""scripts/gpu/arms.sh through its CPU path (no GPU: uncompiled, tiny batches), on the tiny config."""
import os
import subprocess
import sys
from pathlib import Path

import torch

from durian_export.train import main as train_main

ROOT = Path(__file__).resolve().parents[1]
REPO = ROOT.parents[1]
TINY = ROOT / "configs" / "tiny.json"


def _tiny_start(tmp_path):
    """A tiny run with one stage-1 step, as checkpoint parts (arms.sh's START_DIR); the arms' output
    folder; and the environment arms.sh runs in (this venv's python first, OUT set)."""
    start = tmp_path / "start"
    train_main(["--config", str(TINY), "--stage", "stage1", "--out", str(start), "--steps", "1", "--log-every", "1",
                "--device", "cpu", "--split-checkpoint"])
    out = tmp_path / "out"
    env = {**os.environ, "OUT": str(out), "OMP_NUM_THREADS": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return start, out, env


def test_arms_returns_the_arms_that_trained_and_reports_the_one_that_failed(tmp_path):
    start, out, env = _tiny_start(tmp_path)
    # `ciok` puts a train option between two overrides (argparse alone would refuse that order);
    # `cibad` fails at once, and its run directory still holds the start checkpoint
    arms = "ciok=lr=1e-4,--restart-schedule,warmup=1 cibad=--no-such-option"
    r = subprocess.run(["bash", str(REPO / "scripts" / "gpu" / "arms.sh"), "stage1", str(start), "4", "2", arms],
                       env=env, capture_output=True, text=True, timeout=600)
    try:
        assert r.returncode == 1, r.stdout[-2000:] + r.stderr[-2000:]
        assert "cibad: FAILED" in r.stdout and "ciok: FAILED" not in r.stdout
        assert sorted(p.name for p in (out / "ciok").iterdir())[0] == "ckpt.pt.part000"
        assert not (out / "cibad").exists()  # no slim of the untrained start posing as the arm's result
        assert (out / "stage1-arms.tgz").exists()
        from durian_export.checkpoint import load_checkpoint
        assert load_checkpoint(out / "ciok" / "ckpt.pt")["progress"]["stage1"] == 4
    finally:
        for name in ("ciok", "cibad"):
            subprocess.run(["rm", "-rf", f"/tmp/stage1-arm-{name}", f"/tmp/stage1-slim-{name}"])


def test_arms_trains_the_decoder_on_the_denoisers_estimates(tmp_path):
    """arms.sh vae: an arm with vae_denoised_t continues a run with a trained denoiser; only the
    decoder moves. A second arm (GROW=NAME:vae-decoder=3) trains the same from the start with its
    decoder deepened on the host."""
    start, out, env = _tiny_start(tmp_path)
    r = subprocess.run(["bash", str(REPO / "scripts" / "gpu" / "arms.sh"), "vae", str(start), "2", "2",
                        "cidn=vae_denoised_t=50,warmup=1 cigr=vae_denoised_t=50,warmup=1"],
                       env={**env, "GROW": "cigr:vae-decoder=3"}, capture_output=True, text=True, timeout=600)
    try:
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
        from durian_export.checkpoint import load_checkpoint
        before, after = load_checkpoint(start / "ckpt.pt"), load_checkpoint(out / "cidn" / "ckpt.pt")
        assert after["progress"]["vae"] == 2 and after["config"]["vae_denoised_t"] == 50
        # the slim holds fp16 weights: compare with the start's weights in fp16
        same = lambda k, v: torch.equal(v.float(), before["model"][k].half().float())  # noqa: E731
        assert {k.split(".")[1] for k, v in after["model"].items() if k.startswith("vae.") and not same(k, v)} == \
            {"decoder"}
        # what returns is the VAE alone, the other stages unstaged; the host keeps the whole run, the
        # denoiser as it started, for a later call's STARTS
        assert {k.split(".")[0] for k in after["model"]} == {"vae"}
        assert after["progress"]["stage1"] == 0
        whole = load_checkpoint(Path("/tmp/vae-slim-cidn") / "ckpt.pt")
        assert whole["progress"]["stage1"] == 1
        assert all(same(k, v) for k, v in whole["model"].items() if k.startswith("unet."))
        grown = load_checkpoint(out / "cigr" / "ckpt.pt")
        assert grown["progress"]["vae"] == 2 and grown["config"]["model"]["vae_decoder_blocks"] == 3
        assert len({k.split(".")[3] for k in grown["model"] if k.startswith("vae.decoder.body.")}) == \
            len({k.split(".")[3] for k in after["model"] if k.startswith("vae.decoder.body.")}) + 4
    finally:
        subprocess.run(["rm", "-rf"] + [f"/tmp/vae-{kind}-{arm}{end}" for arm in ("cidn", "cigr")
                                        for kind, end in (("arm", ""), ("slim", ""), ("slim", ".vae"))])
