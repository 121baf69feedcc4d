"""The model machinery of issue 4 on the tiny config: training, resume, DDP, ablations."""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from durian_export.components import Durian
from durian_export.config import TrainConfig, load_config
from durian_export.data import SynthBatchMaker
from durian_export.train import all_reduce_grads, compute_loss
from durian_export.train import main as train_main

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "tiny.json"


def tiny_cfg(*overrides: str) -> TrainConfig:
    return load_config(TINY, list(overrides))


def losses(run: Path, stage: str) -> list[float]:
    return [json.loads(line)["loss"] for line in (run / "loss.jsonl").read_text().splitlines()
            if json.loads(line)["stage"] == stage]


def test_tiny_model_overfits_a_fixed_batch(tmp_path):
    train_main(["--config", str(TINY), "--stage", "stage1", "--out", str(tmp_path), "--steps", "40",
                "--fixed-batch", "--log-every", "1", "--device", "cpu", "lr=3e-3", "warmup=5"])
    curve = losses(tmp_path, "stage1")
    assert len(curve) == 40
    assert curve[0] / min(curve[-5:]) >= 10, curve


@pytest.fixture
def one_thread():
    """CPU kernels may split reductions differently across threads; one thread is bit-exact."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_resume_reproduces_the_uninterrupted_run(tmp_path, one_thread):
    common = ["--config", str(TINY), "--stage", "stage1", "--steps", "6", "--log-every", "1", "--device", "cpu"]
    train_main(common + ["--out", str(tmp_path / "a")])
    train_main(common + ["--out", str(tmp_path / "b"), "--stop-after", "3"])
    with pytest.raises(SystemExit, match="--resume"):
        train_main(common + ["--out", str(tmp_path / "b")])
    train_main(["--stage", "stage1", "--steps", "6", "--log-every", "1", "--device", "cpu", "--resume",
                "--out", str(tmp_path / "b")])
    assert losses(tmp_path / "a", "stage1") == losses(tmp_path / "b", "stage1")
    a = torch.load(tmp_path / "a" / "ckpt.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "b" / "ckpt.pt", weights_only=False)["model"]
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_reinit_restarts_one_stage_and_keeps_the_others(tmp_path, one_thread):
    """--resume --reinit: the stage's weights return to the seeded init; other stages' weights stay."""
    common = ["--config", str(TINY), "--steps", "2", "--log-every", "1", "--device", "cpu", "--out", str(tmp_path / "r")]
    train_main(common[:2] + ["--stage", "vae"] + common[2:])
    train_main(["--stage", "stage1", "--resume", "--steps", "6"] + common[4:])
    trained = torch.load(tmp_path / "r" / "ckpt.pt", weights_only=False)["model"]
    train_main(["--stage", "stage1", "--resume", "--reinit", "--stop-after", "1", "--steps", "50"] + common[4:])
    after = torch.load(tmp_path / "r" / "ckpt.pt", weights_only=False)
    torch.manual_seed(tiny_cfg().seed)
    init = Durian(tiny_cfg()).state_dict()
    assert after["progress"]["stage1"] == 1 and after["progress"]["vae"] == 2
    vae_keys = [k for k in trained if k.startswith("vae.")]
    assert all(torch.equal(after["model"][k], trained[k]) for k in vae_keys)
    # one step from the init lands near the init, far from the weights six steps trained
    k = next(k for k in trained if k.startswith("unet.") and ".temporal." not in k and k.endswith("weight"))
    d_init = (after["model"][k] - init[k]).abs().max()
    d_trained = (after["model"][k] - trained[k]).abs().max()
    assert d_init < d_trained


def test_resume_may_change_the_recipe_but_not_the_architecture(tmp_path, one_thread):
    common = ["--stage", "stage1", "--steps", "4", "--log-every", "1", "--device", "cpu", "--out", str(tmp_path / "r")]
    train_main(["--config", str(TINY), "--stop-after", "2"] + common)
    with pytest.raises(SystemExit, match="model.heads=4"):
        train_main(common + ["--resume", "model.heads=4"])
    train_main(common + ["--resume", "lr=5e-4", "min_snr_gamma=5"])
    cfg = torch.load(tmp_path / "r" / "ckpt.pt", weights_only=False)["config"]
    assert cfg["lr"] == 5e-4 and cfg["min_snr_gamma"] == 5.0
    assert cfg["model"]["heads"] == tiny_cfg().model.heads


def test_restart_schedule_warms_up_again_and_later_chunks_keep_it(tmp_path, one_thread):
    def lrs(run):
        return {json.loads(line)["step"]: json.loads(line)["lr"] for line in (run / "loss.jsonl").read_text().splitlines()}

    common = ["--stage", "stage1", "--log-every", "1", "--device", "cpu", "--out", str(tmp_path / "r")]
    train_main(["--config", str(TINY), "--steps", "4", "lr=1e-3", "warmup=2"] + common)
    assert lrs(tmp_path / "r")[4] < 1e-3  # decaying
    with pytest.raises(SystemExit, match="no room"):
        train_main(common + ["--resume", "--restart-schedule", "--steps", "5"])
    train_main(common + ["--resume", "--restart-schedule", "--steps", "12", "--stop-after", "2"])
    after = lrs(tmp_path / "r")
    assert after[5] == pytest.approx(5e-4) and after[6] == pytest.approx(1e-3)  # warm-up from step 4
    train_main(common + ["--resume", "--steps", "12"])  # no flag: the restarted schedule holds
    after = lrs(tmp_path / "r")
    assert 1e-3 >= after[7] > after[10] > after[12] > 1e-4
    assert torch.load(tmp_path / "r" / "ckpt.pt", weights_only=False)["schedule"] == {"stage1": 4}


def test_min_snr_weights_only_the_low_noise_steps(monkeypatch):
    """Min-SNR-γ (ε-prediction) leaves steps with SNR ≤ γ at weight 1 and scales the rest by γ/SNR."""
    from durian_export import components

    cfg = tiny_cfg()
    torch.manual_seed(0)
    model = Durian(cfg)
    b = SynthBatchMaker(cfg).batch(0, 0, 2, 1)
    for t_fixed, expect_equal in ((999, True), (0, False)):
        monkeypatch.setattr(components.torch, "randint", lambda lo, hi, size, generator=None: torch.full(size, t_fixed))
        plain = components.diffusion_loss(model, b, torch.Generator().manual_seed(1))
        model.cfg.min_snr_gamma = 5.0
        weighted = components.diffusion_loss(model, b, torch.Generator().manual_seed(1))
        model.cfg.min_snr_gamma = 0.0
        ab = float(model.schedule.alphas_cumprod[t_fixed])
        snr = ab / (1 - ab)
        assert torch.allclose(weighted, plain * min(snr, 5.0) / snr, rtol=1e-3), t_fixed
        assert (abs(float((weighted - plain).detach())) < 1e-6) == expect_equal


def test_the_unconditional_branch_drops_pose_with_the_references(monkeypatch):
    from durian_export import components

    cfg = tiny_cfg("ref_dropout=1.0", "pose_dropout=0.0")
    torch.manual_seed(0)
    model = Durian(cfg)
    seen = {}
    real = model.denoise

    def spy(noisy, t, pose, refs, members, weights):
        seen["pose"] = pose
        return real(noisy, t, pose, refs, members, weights)

    monkeypatch.setattr(model, "denoise", spy)
    components.diffusion_loss(model, SynthBatchMaker(cfg).batch(0, 0, 2, 1), torch.Generator().manual_seed(0))
    assert seen["pose"].abs().sum() == 0


def _flat_grads(model, stage):
    return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in model.trainable(stage)])


def _prepare(cfg, stage):
    torch.manual_seed(0)
    model = Durian(cfg)
    for p in model.parameters():
        p.requires_grad_(False)
    for p in model.trainable(stage):
        p.requires_grad_(True)
    return model


def _ddp_worker(rank, world, port, out, stage):
    import torch.distributed as dist

    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    cfg = tiny_cfg()
    model = _prepare(cfg, stage)
    compute_loss(model, SynthBatchMaker(cfg), stage, 0, rank, 1).backward()
    all_reduce_grads(model.trainable(stage), world)
    if rank == 0:
        torch.save(_flat_grads(model, stage), out)
    dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("stage", ["stage1", "vae"])
def test_two_process_ddp_matches_single_process_gradients(tmp_path, stage):
    out = tmp_path / "grad.pt"
    mp.spawn(_ddp_worker, args=(2, _free_port(), str(out), stage), nprocs=2, join=True)
    ddp = torch.load(out)
    cfg = tiny_cfg()
    grads = []
    for rank in (0, 1):  # the same per-rank batches, one process
        model = _prepare(cfg, stage)
        compute_loss(model, SynthBatchMaker(cfg), stage, 0, rank, 1).backward()
        grads.append(_flat_grads(model, stage))
    expected = (grads[0] + grads[1]) / 2
    assert ddp.abs().sum() > 0
    torch.testing.assert_close(ddp, expected, rtol=1e-4, atol=1e-6)
    assert not torch.allclose(grads[0], grads[1])  # the ranks really saw different batches


def test_torchrun_two_processes_train_and_checkpoint(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", str(_free_port()),
           "-m", "durian_export.train", "--config", str(TINY), "--stage", "vae", "--out", str(tmp_path), "--steps", "2",
           "--log-every", "1", "--device", "cpu"]
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    recs = [json.loads(line) for line in (tmp_path / "loss.jsonl").read_text().splitlines()]
    assert [r["world"] for r in recs] == [2, 2]
    assert (tmp_path / "ckpt.pt").exists()


def _batch(cfg):
    return SynthBatchMaker(cfg).batch(step=3, rank=0, batch=2, frames=1)


def test_ablation_no_complementary_masking_gives_unmasked_references():
    on = _batch(tiny_cfg("augmentation=false"))
    off = _batch(tiny_cfg("augmentation=false", "complementary_masking=false"))
    # with masking the attribute reference is black outside its mask and the portrait inside its own
    assert float(on.attr[(on.attr_mask == 0).expand_as(on.attr)].abs().max()) == 0
    assert float(on.portrait[(on.portrait_mask > 0.999).expand_as(on.portrait)].abs().max()) == 0
    # without, both are whole frames
    assert float(off.attr[(off.attr_mask == 0).expand_as(off.attr)].abs().max()) > 0.1
    assert float(off.portrait[(off.portrait_mask > 0.999).expand_as(off.portrait)].abs().max()) > 0.1


def test_ablation_no_mask_expansion_shrinks_the_portrait_mask():
    on = _batch(tiny_cfg("augmentation=false"))
    off = _batch(tiny_cfg("augmentation=false", "mask_expansion=false"))
    assert torch.all(on.portrait_mask >= off.portrait_mask - 1e-6)
    assert float(on.portrait_mask.sum()) > float(off.portrait_mask.sum())


def test_ablation_no_augmentation_keeps_references_in_place():
    plain = _batch(tiny_cfg("augmentation=false"))
    aug = _batch(tiny_cfg())
    # augmentation moves the references with their masks; the targets and poses stay as rendered
    assert float((aug.portrait_mask - plain.portrait_mask).abs().max()) > 0.5
    assert float((aug.attr_mask - plain.attr_mask).abs().max()) > 0.5
    torch.testing.assert_close(aug.target, plain.target)
    torch.testing.assert_close(aug.pose, plain.pose)
    # the warp keeps image and mask together: the portrait stays black where its mask is full
    full = (aug.portrait_mask > 0.99).expand_as(aug.portrait)
    assert full.sum() > 0 and float(aug.portrait[full].abs().max()) < 0.05


def test_ablation_shared_reference_and_no_mask_channel():
    shared = Durian(tiny_cfg("model.shared_reference=true"))
    assert shared.arnet is shared.prnet
    assert sum(p.numel() for p in shared.parameters()) < sum(p.numel() for p in Durian(tiny_cfg()).parameters())
    assert Durian(tiny_cfg()).prnet.conv_in.in_channels == 5
    assert Durian(tiny_cfg("model.mask_channel=false")).prnet.conv_in.in_channels == 4
    with pytest.raises(ValueError, match="Unknown config key"):
        tiny_cfg("model.no_such_thing=1")


def test_cross_identity_samples_take_the_attribute_from_someone_else():
    same = _batch(tiny_cfg("augmentation=false"))
    cross = _batch(tiny_cfg("augmentation=false", "cross_identity=1.0"))
    assert same.attr_class == cross.attr_class
    assert not torch.allclose(same.attr, cross.attr)
    # the portrait person is the same outside both masks; the target is the ground truth of them
    # wearing the donor's attribute, so it differs
    outside = ((same.portrait_mask == 0) & (cross.portrait_mask == 0)).expand_as(same.portrait)
    torch.testing.assert_close(same.portrait[outside], cross.portrait[outside])
    assert not torch.allclose(same.target, cross.target)


def test_training_on_clips_from_disk(tmp_path):
    from durian_export.data.clips import ClipBatchMaker
    from durian_export.synth.__main__ import main as synth_main

    data = tmp_path / "clips"
    synth_main(["sample", "--out", str(data), "--clips", "2", "--frames", "5", "--size", "64", "--seed", "3"])
    cfg = tiny_cfg("augmentation=false")
    b = ClipBatchMaker(cfg, data).batch(step=0, rank=0, batch=2, frames=2)
    assert b.target.shape == (2, 2, 3, 64, 64) and b.pose.shape == (2, 2, 3, 64, 64)
    # the fallback expansion only grows the mask; references are complementary-masked
    assert float(b.attr[(b.attr_mask == 0).expand_as(b.attr)].abs().max()) == 0
    assert float(b.portrait[(b.portrait_mask > 0.999).expand_as(b.portrait)].abs().max()) == 0
    run = tmp_path / "run"
    train_main(["--config", str(TINY), "--stage", "stage1", "--out", str(run), "--steps", "2", "--log-every", "1",
                "--device", "cpu", "--data", str(data)])
    assert len(losses(run, "stage1")) == 2


def test_split_fp16_checkpoint_loads_back(tmp_path):
    from durian_export.checkpoint import load_checkpoint

    train_main(["--config", str(TINY), "--stage", "vae", "--out", str(tmp_path), "--steps", "2", "--log-every", "1",
                "--device", "cpu", "--fp16-checkpoint", "--split-checkpoint"])
    assert not (tmp_path / "ckpt.pt").exists()
    parts = sorted(tmp_path.glob("ckpt.pt.part*"))
    assert parts and all(p.stat().st_size <= 15 * 1024 * 1024 for p in parts)
    state = load_checkpoint(tmp_path / "ckpt.pt")
    model = Durian(TrainConfig.from_json(state["config"]))
    model.load_state_dict(state["model"])  # fp16 weights come back as fp32 tensors
    assert state["progress"]["vae"] == 2 and state["finished"]
    # and training continues from the parts
    train_main(["--stage", "parser", "--out", str(tmp_path), "--steps", "1", "--log-every", "1", "--device", "cpu"])
    assert (tmp_path / "ckpt.pt").exists()
