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

from durian_export.components import DiffusionObjective, Durian
from durian_export.config import TrainConfig, load_config
from durian_export.data import SynthBatchMaker
from durian_export.synth import catalog
from durian_export.train import Trainer, compute_loss
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


def test_stop_at_a_passed_time_checkpoints_after_one_step(tmp_path, one_thread):
    """--stop-at: a chunk that begins after its call's deadline (e.g. chained behind another job) still
    leaves a resumable checkpoint, instead of being killed with nothing saved."""
    import time
    run = tmp_path / "r"
    train_main(["--config", str(TINY), "--stage", "stage1", "--steps", "50", "--log-every", "1", "--device", "cpu",
                "--out", str(run), "--stop-at", str(time.time() - 1)])
    ckpt = torch.load(run / "ckpt.pt", weights_only=False)
    assert ckpt["progress"]["stage1"] == 1


def test_the_first_log_line_says_where_the_set_up_time_went(tmp_path, one_thread):
    """A device call's time before step 1 (loading, building, filling the pool) is reported once, by
    phase, so a GPU session can see what its cold start costs; later lines do not repeat it."""
    run = tmp_path / "r"
    train_main(["--config", str(TINY), "--stage", "stage1", "--steps", "3", "--log-every", "1", "--device", "cpu",
                "--pool", "4", "--pool-refresh", "1", "--batch-size", "2", "--out", str(run)])
    recs = [json.loads(line) for line in (run / "loss.jsonl").read_text().splitlines()]
    setup = recs[0]["setup_s"]
    assert list(setup) == ["compile_cache_load", "model", "data", "trainer", "optimiser_heldout"]
    assert all(v >= 0 for v in setup.values()) and sum(setup.values()) > 0
    assert all("setup_s" not in r for r in recs[1:])


def test_resume_may_change_the_recipe_but_not_the_architecture(tmp_path, one_thread):
    common = ["--stage", "stage1", "--steps", "4", "--log-every", "1", "--device", "cpu", "--out", str(tmp_path / "r")]
    train_main(["--config", str(TINY), "--stop-after", "2"] + common)
    with pytest.raises(SystemExit, match="model.heads=4"):
        train_main(common + ["--resume", "model.heads=4"])
    weights = [1.0, 2.0, 0.5, 0.5][:tiny_cfg().model.latent_channels]
    train_main(common + ["--resume", "lr=5e-4", "min_snr_gamma=5", f"channel_loss_weights={json.dumps(weights)}",
                         "model.temporal_min_t=600", "attr_loss_weight=2"])
    cfg = torch.load(tmp_path / "r" / "ckpt.pt", weights_only=False)["config"]
    assert cfg["lr"] == 5e-4 and cfg["min_snr_gamma"] == 5.0 and cfg["channel_loss_weights"] == weights
    assert cfg["attr_loss_weight"] == 2.0
    assert cfg["model"]["heads"] == tiny_cfg().model.heads and cfg["model"]["temporal_min_t"] == 600


def test_noise_offset_adds_coarse_noise_each_frame_its_own_and_leaves_white_noise_runs_as_they_were():
    from durian_export.components import Draws, coarse_noise

    cfg = tiny_cfg()
    shape = (256, 4, 3, 8, 8)
    plain = Draws.draw(cfg, shape, torch.Generator().manual_seed(5)).noise
    # noise_offset 0 draws exactly what it drew before the option existed
    g = torch.Generator().manual_seed(5)
    torch.rand(256, generator=g), torch.rand(256, generator=g)
    assert torch.equal(plain, torch.randn(shape, generator=g))
    cfg.noise_offset = 0.5
    off = Draws.draw(cfg, shape, torch.Generator().manual_seed(5)).noise
    extra = off - plain
    # grid 1: a constant over each (sample, channel, frame), of std noise_offset, drawn per frame
    assert float((extra - extra.mean((-1, -2), keepdim=True)).abs().max()) < 1e-6
    dc = extra.mean((-1, -2))
    assert abs(float(dc.std()) - 0.5) < 0.03
    assert abs(float(torch.corrcoef(torch.stack([dc[:, :, 0].flatten(), dc[:, :, 1].flatten()]))[0, 1])) < 0.1
    # the white part's per-frame mean is 1/8 here, so the coarse part now sets most of it
    assert float(off.mean((-1, -2)).std()) > 3 * float(plain.mean((-1, -2)).std())
    # grid 4: levels 1, 2 and 4 (bilinear blending between cells leaves the finer two under 1 each),
    # smooth: neighbouring latent pixels nearly equal
    c = coarse_noise((512, 1, 1, 16, 16), 4, torch.Generator().manual_seed(1))
    assert 2.0 < float(c.var()) < 3.0
    assert float((c[..., 1:] - c[..., :-1]).abs().mean()) < 0.2 * float(c.abs().mean())
    for bad in (0, 3, 32):
        with pytest.raises(ValueError, match="noise_offset_grid"):
            coarse_noise((1, 1, 1, 16, 16), bad, torch.Generator())


def test_noise_correlation_chains_a_clips_frames_and_leaves_single_frames_and_rho_0_as_they_were():
    from durian_export.components import Draws

    cfg = tiny_cfg()
    shape = (64, 4, 4, 8, 8)
    plain = Draws.draw(cfg, shape, torch.Generator().manual_seed(3)).noise
    cfg.noise_correlation = 0.8
    chained = Draws.draw(cfg, shape, torch.Generator().manual_seed(3)).noise
    assert torch.equal(chained[:, :, 0], plain[:, :, 0])  # the first frame is its own draw
    for f in range(4):  # every frame keeps unit variance
        assert abs(float(chained[:, :, f].std()) - 1) < 0.03
    def corr(a, b):
        return float(torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1])
    assert abs(corr(chained[:, :, 1], chained[:, :, 2]) - 0.8) < 0.03
    assert abs(corr(chained[:, :, 0], chained[:, :, 2]) - 0.64) < 0.03
    assert abs(corr(plain[:, :, 1], plain[:, :, 2])) < 0.03
    # with coarse noise too: the sum is chained, so the coarse part correlates across frames as well
    cfg.noise_offset = 0.5
    both = Draws.draw(cfg, shape, torch.Generator().manual_seed(3)).noise
    dc = both.mean((-1, -2))
    assert corr(dc[:, :, 1], dc[:, :, 2]) > 0.6
    # stage 1's single frames draw what they drew without the option
    cfg.noise_offset = 0.0
    one = (64, 4, 1, 8, 8)
    a = Draws.draw(cfg, one, torch.Generator().manual_seed(3)).noise
    cfg.noise_correlation = 0.0
    assert torch.equal(a, Draws.draw(cfg, one, torch.Generator().manual_seed(3)).noise)


def test_stage2_with_temporal_min_t_draws_only_the_steps_its_layers_act_on():
    from durian_export.components import Draws

    cfg = tiny_cfg()
    g = torch.Generator().manual_seed(0)
    assert int(Draws.draw(cfg, (512, 4, 2, 8, 8), g).t.min()) < 100
    t = Draws.draw(cfg, (512, 4, 2, 8, 8), g, t_min=600).t
    assert int(t.min()) >= 600 and int(t.max()) == cfg.num_train_timesteps - 1
    cfg.model.temporal_min_t = 600
    model = Durian(cfg)
    data = SynthBatchMaker(cfg, "cpu")
    assert Trainer(model, "stage2", data, 2, torch.device("cpu"), 1, 0).t_min == 600
    assert Trainer(model, "stage1", data, 2, torch.device("cpu"), 1, 0).t_min == 0


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


def test_min_snr_floor_raises_only_the_noisy_steps_weight(monkeypatch):
    """min_snr_floor f: the clean-latent weight max(min(SNR, γ), f), so for ε-prediction the noisy end
    (SNR < f) weighs f / SNR instead of 1, and steps with SNR ≥ f keep their Min-SNR-γ weight."""
    from durian_export import components

    cfg = tiny_cfg("min_snr_gamma=5")
    torch.manual_seed(0)
    model = Durian(cfg)
    b = SynthBatchMaker(cfg).batch(0, 0, 2, 1)
    for t_fixed in (900, 400, 0):
        monkeypatch.setattr(components.torch, "randint", lambda lo, hi, size, generator=None: torch.full(size, t_fixed))
        model.cfg.min_snr_floor = 0.0
        gamma = components.diffusion_loss(model, b, torch.Generator().manual_seed(1))
        model.cfg.min_snr_floor = 0.25
        floored = components.diffusion_loss(model, b, torch.Generator().manual_seed(1))
        ab = float(model.schedule.alphas_cumprod[t_fixed])
        snr = ab / (1 - ab)
        expect = max(min(snr, 5.0), 0.25) / min(snr, 5.0)
        assert torch.allclose(floored, gamma * expect, rtol=1e-3), (t_fixed, snr)
        assert (expect > 1) == (snr < 0.25), t_fixed  # 900 is floored; 400 and 0 are not


def test_channel_loss_weights_weigh_each_latent_channel_error():
    """channel_loss_weights: all 1 is the plain loss; one channel's weight alone is that channel's
    error scaled by the channel count (the mean runs over every channel); a wrong count refuses."""
    from durian_export import components

    cfg = tiny_cfg()
    torch.manual_seed(0)
    model = Durian(cfg)
    lb = components.encode_batch(model, SynthBatchMaker(cfg).batch(0, 0, 2, 1))
    C = cfg.model.latent_channels

    def loss(weights):
        model.cfg.channel_loss_weights = weights
        obj = components.DiffusionObjective(model)
        with torch.no_grad():
            return float(components.diffusion_loss_latent(obj, model, lb, torch.Generator().manual_seed(3)))

    plain = loss([])
    assert loss([1.0] * C) == pytest.approx(plain, rel=1e-6)
    per_channel = [loss([float(c == k) for c in range(C)]) for k in range(C)]
    assert sum(per_channel) == pytest.approx(plain, rel=1e-5)
    assert len(set(round(v, 6) for v in per_channel)) == C
    with pytest.raises(ValueError, match=f"needs {C} weights"):
        loss([1.0] * (C + 1))
    with pytest.raises(ValueError, match="not all 0"):
        loss([0.0] * C)
    model.cfg.channel_loss_weights = []


def _encoded_tiny_batch():
    """A seeded tiny model and one encoded stage-1 batch of 2 samples: (cfg, model, TrainBatch, LatentBatch)."""
    from durian_export import components

    cfg = tiny_cfg()
    torch.manual_seed(0)
    model = Durian(cfg)
    b = SynthBatchMaker(cfg).batch(0, 0, 2, 2)
    return cfg, model, b, components.encode_batch(model, b)


def _weighted_loss(model, batch) -> float:
    """The diffusion objective on `batch` with the model's current loss weights and fixed draws."""
    from durian_export import components

    obj = components.DiffusionObjective(model)
    with torch.no_grad():
        return float(components.diffusion_loss_latent(obj, model, batch, torch.Generator().manual_seed(3)))


def test_attr_loss_weight_counts_the_attribute_region_more():
    """attr_loss_weight: the region is each target frame's mask of its sample's attribute class,
    area-averaged to latent pixels; weight 0 is the plain loss, and weight w adds w times the error
    inside the region (the loss is linear in the weight); the pool carries the same region; a
    negative weight refuses; resume may switch it on."""
    import torch.nn.functional as nnf

    from durian_export import components
    from durian_export.data.pool import Pool

    cfg, model, b, lb = _encoded_tiny_batch()
    B, C, Fr, h, w = lb.x0.shape
    assert lb.region.shape == (B, 1, Fr, h, w)
    for n, cls in enumerate(b.attr_class):
        mask = b.target_masks[n, :, catalog.MASK_CLASSES.index(cls)]
        assert torch.allclose(lb.region[n, 0], nnf.adaptive_avg_pool2d(mask[:, None], (h, w))[:, 0])
    assert 0 < float(lb.region.mean()) < 1

    def loss(weight, region=lb.region):
        model.cfg.attr_loss_weight = weight
        return _weighted_loss(model, components.LatentBatch(lb.x0, lb.portrait_in, lb.attr_in, lb.pose, region))

    plain, one, three = loss(0.0), loss(1.0), loss(3.0)
    inside = one - plain
    assert inside > 0 and three == pytest.approx(plain + 3 * inside, rel=1e-5)
    # an empty region weighs nothing; a full one scales the whole loss by 1 + w
    assert loss(2.0, torch.zeros_like(lb.region)) == pytest.approx(plain, rel=1e-6)
    assert loss(2.0, torch.ones_like(lb.region)) == pytest.approx(3 * plain, rel=1e-5)
    with pytest.raises(ValueError, match="needs the targets' attribute masks"):
        loss(1.0, None)
    with pytest.raises(ValueError, match="must be ≥ 0"):
        loss(-1.0)
    model.cfg.attr_loss_weight = 0.0
    # the pool stores the region (8-bit) beside the latents it draws
    pool = Pool(cfg, model, "stage1", SynthBatchMaker(cfg), size=4, refresh=2, rank=0, start_step=0)
    drawn = pool.batch(0, 2).latents
    assert drawn.region.shape == (2, 1, 1, h, w) and 0 <= float(drawn.region.min()) <= float(drawn.region.max()) <= 1


def test_eye_loss_weight_counts_the_eye_boxes_more():
    """eye_loss_weight: the region is each target frame's two eye boxes (the benchmark's boxes of the
    eye keypoints), area-averaged to latent pixels, around the eyes and nowhere else; weight w adds w
    times the error inside them (linear in the weight, as attr_loss_weight); both weights together
    multiply; the pool carries the eyes; a negative weight refuses."""
    import torch.nn.functional as nnf

    from durian_export import components, metrics
    from durian_export.data.pool import Pool

    cfg, model, b, lb = _encoded_tiny_batch()
    B, C, Fr, h, w = lb.x0.shape
    H, W = b.target.shape[-2:]
    assert lb.eyes.shape == (B, 1, Fr, h, w) and 0 < float(lb.eyes.mean()) < 0.25
    kp = b.target_keypoints.reshape(B * Fr, 68, 2)
    want = (metrics.keypoint_box(kp, 36, 42, (H, W)) + metrics.keypoint_box(kp, 42, 48, (H, W))).clamp(max=1)
    assert torch.allclose(lb.eyes, nnf.adaptive_avg_pool2d(want, (h, w)).reshape(B, Fr, h, w)[:, None])
    # the eyes' latent pixels lie between the eye keypoints' rows, give or take the boxes' margin
    rows = lb.eyes[0, 0, 0].sum(1).nonzero()[:, 0] * (H / h)
    eye_y = kp[0, 36:48, 1]
    assert float(rows.min()) >= float(eye_y.min()) - 0.5 * H / 4 and float(rows.max()) <= float(eye_y.max()) + H / 4

    def loss(eye, attr=0.0, eyes=lb.eyes):
        model.cfg.eye_loss_weight, model.cfg.attr_loss_weight = eye, attr
        return _weighted_loss(model, components.LatentBatch(lb.x0, lb.portrait_in, lb.attr_in, lb.pose, lb.region, eyes))

    plain, one, four = loss(0.0), loss(1.0), loss(4.0)
    inside = one - plain
    assert inside > 0 and four == pytest.approx(plain + 4 * inside, rel=1e-5)
    assert loss(2.0, eyes=torch.ones_like(lb.eyes)) == pytest.approx(3 * plain, rel=1e-5)
    assert loss(2.0, 1.0, torch.ones_like(lb.eyes)) == pytest.approx(3 * loss(0.0, 1.0), rel=1e-5)
    with pytest.raises(ValueError, match="needs the targets' eye regions"):
        loss(1.0, eyes=None)
    with pytest.raises(ValueError, match="eye_loss_weight must be ≥ 0"):
        loss(-1.0)
    model.cfg.eye_loss_weight = model.cfg.attr_loss_weight = 0.0
    pool = Pool(cfg, model, "stage1", SynthBatchMaker(cfg), size=4, refresh=2, rank=0, start_step=0)
    drawn = pool.batch(0, 2).latents
    assert drawn.eyes.shape == (2, 1, 1, h, w) and 0 <= float(drawn.eyes.min()) < float(drawn.eyes.max()) <= 1


def test_channel_loss_weights_live_on_the_models_device():
    """The objective's channel weights are made where the model already is: training builds the
    objective around a model on its GPU, and a CPU tensor there fails the compiled step (it stopped a
    GPU chunk). The meta device stands in for the GPU here."""
    cfg = tiny_cfg()
    cfg.channel_loss_weights = [1.0] * cfg.model.latent_channels
    model = Durian(cfg).to("meta")
    assert DiffusionObjective(model).channel_weights.device.type == "meta"


def test_channel_weights_from_decoder_sensitivity():
    """The decoder's sensitivity per channel is ≥ 0 and grows with the noise's effect; the weights
    have mean 1 and respect the floor."""
    from durian_export.channel_weights import decoder_sensitivity, weights_from

    torch.manual_seed(0)
    model = Durian(tiny_cfg()).eval()
    z = torch.randn(2, model.cfg.model.latent_channels, 8, 8)
    s = decoder_sensitivity(model, z)
    assert len(s) == model.cfg.model.latent_channels and min(s) >= 0 and sum(s) > 0
    w = weights_from([1.0, 1.0, 10.0, 0.0], floor=0.25)
    assert sum(w) / len(w) == pytest.approx(1.0, abs=1e-3)
    assert w[2] > w[0] == w[1] > w[3] > 0 and w[3] / w[0] == pytest.approx(0.25 / (1 / 3), rel=1e-2)
    with pytest.raises(ValueError):
        weights_from([0.0, 0.0])


def test_swap_check_decodes_the_sample_with_the_truths_channels():
    """swap_check: with every channel taken from the truth the decode is the truth's round trip; with
    none, the sample as drawn."""
    from durian_export.channel_weights import swap_check

    torch.manual_seed(0)
    model = Durian(tiny_cfg()).eval()
    C = model.cfg.model.latent_channels
    every = swap_check(model, list(range(C)), cases=1, steps=2)[0]
    assert every["truth_wide"] == pytest.approx(every["round_trip"], abs=1e-4)
    assert every["truth_narrow"] == pytest.approx(every["sampled"], abs=1e-3)
    assert every["round_trip"] != pytest.approx(every["sampled"], abs=0.1)
    # one wide channel: its own swap is the wide swap; a threshold above white makes every pixel
    # dark, so the dark figures are the whole frame's; one below black makes none, and none are given
    one = swap_check(model, [1], cases=1, steps=2, dark=1.01)[0]
    assert one["truth_1"] == pytest.approx(one["truth_wide"], abs=1e-6)
    assert one["dark_sampled"] == pytest.approx(one["sampled"], abs=1e-4)
    assert one["dark_truth_1"] == pytest.approx(one["truth_1"], abs=1e-4)
    assert not any(k.startswith("dark_") for k in swap_check(model, [1], cases=1, steps=2, dark=0.0)[0])


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
    torch.manual_seed(0)
    model = Durian(cfg)
    # the training loop's own step: the objective in DistributedDataParallel
    trainer = Trainer(model, stage, SynthBatchMaker(cfg), 1, torch.device("cpu"), world, rank)
    trainer.loss(0).backward()
    if rank == 0:
        torch.save(_flat_grads(model, stage), out)
    # both ranks done, then leave at once: no destroy_process_group and no interpreter or libtorch
    # exit-time teardown. Twice on loaded 2-core CI runs rank 1 aborted with only
    # "terminate called without an active exception" (SIGABRT) printed, once with a barrier before
    # destroy_process_group as train.py has; not reproduced here in 30 runs, 4 at once on 2 cores.
    # Tearing gloo down is not what this test checks (the gradients are); the product's own exit
    # path is the torchrun test below, where the launcher, not a rank, holds the rendezvous store.
    dist.barrier()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


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
    # the VAE's runs of consecutive frames (vae_frames) come from the clips too
    rgb, masks, kp = ClipBatchMaker(cfg, data).images(step=0, rank=0, batch=2, frames=3)
    assert rgb.shape == (2, 3, 3, 64, 64) and kp.shape == (2, 3, 68, 2)
    one = ClipBatchMaker(cfg, data).images(step=0, rank=0, batch=2)[0]
    assert one.shape == (2, 3, 64, 64)
    with pytest.raises(ValueError, match="consecutive"):
        ClipBatchMaker(cfg, data).images(step=0, rank=0, batch=2, frames=6)


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



def test_channels_last_vae_steps_match_the_default_layout(tmp_path, one_thread):
    """--channels-last only changes the memory layout of the VAE's convolutions: the same losses to
    float32 rounding, and its checkpoint loads into a plain model."""
    from durian_export.checkpoint import load_model

    common = ["--config", str(TINY), "--stage", "vae", "--steps", "3", "--log-every", "1", "--device", "cpu"]
    train_main(common + ["--out", str(tmp_path / "a")])
    train_main(common + ["--out", str(tmp_path / "b"), "--channels-last"])
    a, b = losses(tmp_path / "a", "vae"), losses(tmp_path / "b", "vae")
    assert len(a) == 3 and all(abs(x - y) <= 1e-4 * abs(x) for x, y in zip(a, b)), (a, b)
    model = Durian(load_config(TINY))
    Trainer(model, "vae", SynthBatchMaker(model.cfg), 1, torch.device("cpu"), channels_last=True)
    assert model.vae.decoder.conv_out.weight.is_contiguous(memory_format=torch.channels_last)
    parser_conv = next(p for p in model.parser.parameters() if p.dim() == 4 and p.shape[1] > 1)
    assert not parser_conv.is_contiguous(memory_format=torch.channels_last)  # only the stage's net
    # the checkpoint is plain weights: as loaded, and in channels-last, the same decoder output
    x = torch.rand(1, 3, 64, 64)
    vae = load_model(tmp_path / "b").vae.eval()
    with torch.no_grad():
        plain = vae(x, sample=False)[0]
        nhwc = vae.to(memory_format=torch.channels_last)(x, sample=False)[0]
    assert (plain - nhwc).abs().max() < 1e-5


def test_compile_cache_round_trip(tmp_path):
    """--compile-cache: what a run compiled is written, loads in the next, and a missing or stale file
    is a miss, not an error."""
    from durian_export.compile_cache import load_compile_cache, save_compile_cache

    path = tmp_path / "cache" / "compile.bin"
    assert not load_compile_cache(path)
    torch._dynamo.reset()
    f = torch.compile(lambda x: (x * 2).sin() + 1)
    f(torch.rand(8))
    size = save_compile_cache(path)
    assert size > 0 and path.stat().st_size == size and not path.with_name("compile.bin.partial").exists()
    assert load_compile_cache(path)
    path.write_bytes(b"not a cache")
    assert not load_compile_cache(path)


def test_a_frozen_encoder_stays_bit_identical_while_the_decoder_trains(tmp_path):
    """vae_freeze_encoder (a resumable override): the VAE's chunks after it leave the latent space alone."""
    from durian_export.checkpoint import load_model

    run = tmp_path / "run"
    common = ["--stage", "vae", "--out", str(run), "--log-every", "1", "--device", "cpu"]
    train_main(["--config", str(TINY), "--steps", "2"] + common)
    before = load_model(run).vae.state_dict()
    train_main(["--steps", "4", "--resume", "vae_freeze_encoder=true"] + common)
    model = load_model(run)
    assert model.cfg.vae_freeze_encoder
    after = model.vae.state_dict()
    enc = [k for k in before if k.startswith("encoder.")]
    dec = [k for k in before if k.startswith("decoder.") and before[k].is_floating_point()]
    assert enc and all(torch.equal(before[k], after[k]) for k in enc)
    assert any(not torch.equal(before[k], after[k]) for k in dec)


def test_trained_only_slim_keeps_the_trained_nets_and_rebuilds_the_rest(tmp_path):
    from durian_export.checkpoint import load_checkpoint, load_model, slim_checkpoint

    run = tmp_path / "run"
    train_main(["--config", str(TINY), "--stage", "vae", "--out", str(run), "--steps", "2", "--log-every", "1",
                "--device", "cpu"])
    slim_checkpoint(run, tmp_path / "slim", trained_only=True)
    state = load_checkpoint(tmp_path / "slim" / "ckpt.pt")
    assert state["nets"] == ["vae"] and all(k.startswith("vae.") for k in state["model"])
    full, slim = load_model(run).state_dict(), load_model(tmp_path / "slim").state_dict()
    assert full.keys() == slim.keys()
    for k in full:  # the VAE comes from the file (fp16-rounded), the other nets are the run's seeded init again
        want = full[k].half().float() if k.startswith("vae.") and full[k].is_floating_point() else full[k]
        assert torch.equal(want, slim[k]), k
    # the next stage trains from it as from the full checkpoint
    train_main(["--stage", "parser", "--out", str(tmp_path / "slim"), "--steps", "1", "--log-every", "1",
                "--device", "cpu", "--resume"])
    assert load_checkpoint(tmp_path / "slim" / "ckpt.pt")["progress"] == {"vae": 2, "parser": 1, "stage1": 0,
                                                                           "stage2": 0}
    # a file that claims a net it does not hold is refused
    state["model"] = {k: v for k, v in state["model"].items() if not k.startswith("vae.decoder")}
    from durian_export.checkpoint import restore_weights
    with pytest.raises(ValueError, match="do not match"):
        restore_weights(Durian(TrainConfig.from_json(state["config"])), state)


def test_graft_takes_a_trained_parser_into_a_run_on_another_vae(tmp_path):
    """checkpoint graft: the parser of one run, the rest of another; the next stage trains from it."""
    from durian_export.checkpoint import graft_checkpoint, load_checkpoint, load_model

    common = ["--config", str(TINY), "--log-every", "1", "--device", "cpu"]
    train_main(common + ["--stage", "vae", "--out", str(tmp_path / "a"), "--steps", "2"])
    train_main(common + ["--stage", "vae", "--out", str(tmp_path / "b"), "--steps", "1", "seed=1"])
    train_main(["--stage", "parser", "--out", str(tmp_path / "b"), "--steps", "3", "--resume", "--log-every", "1",
                "--device", "cpu"])
    graft_checkpoint(tmp_path / "a", tmp_path / "b", ["parser"], tmp_path / "g")
    state = load_checkpoint(tmp_path / "g" / "ckpt.pt")
    assert state["progress"] == {"vae": 2, "parser": 3, "stage1": 0, "stage2": 0}
    assert state["nets"] == ["parser", "vae"]
    a, b, g = (load_model(tmp_path / n).state_dict() for n in ("a", "b", "g"))
    for k in g:
        src = b if k.startswith("parser.") else a
        want = src[k].half().float() if k.split(".")[0] in ("parser", "vae") and src[k].is_floating_point() else src[k]
        assert torch.equal(want, g[k]), k
    assert any(not torch.equal(a[k], g[k]) for k in g if k.startswith("parser."))
    # refused: a net the donor never trained, and a net whose shapes differ
    with pytest.raises(SystemExit, match="has not trained 'unet'"):
        graft_checkpoint(tmp_path / "a", tmp_path / "b", ["unet"], tmp_path / "x")
    train_main(common + ["--stage", "parser", "--out", str(tmp_path / "c"), "--steps", "1",
                         "model.parser_channels=[16,32,48]"])
    with pytest.raises(SystemExit, match="differs in shape"):
        graft_checkpoint(tmp_path / "a", tmp_path / "c", ["parser"], tmp_path / "x")
    # stage 1 trains from the grafted run
    train_main(["--stage", "stage1", "--out", str(tmp_path / "g"), "--steps", "1", "--resume", "--log-every", "1",
                "--device", "cpu", "--batch-size", "2"])
    assert load_checkpoint(tmp_path / "g" / "ckpt.pt")["progress"]["stage1"] == 1


def test_parser_degradations_move_no_pixel_and_follow_their_generator(tmp_path):
    """degrade: the same draw from the same generator; every degradation off is the identity; blur
    keeps a dot's centre where it was (so keypoints stay true); the parser stage trains with it."""
    from durian_export.checkpoint import load_checkpoint
    from durian_export.data.augment import degrade

    x = torch.rand(4, 3, 48, 40, generator=torch.Generator().manual_seed(0))
    a = degrade(x, torch.Generator().manual_seed(1))
    assert a.shape == x.shape and 0 <= float(a.min()) and float(a.max()) <= 1
    assert torch.equal(a, degrade(x, torch.Generator().manual_seed(1)))
    assert not torch.equal(a, degrade(x, torch.Generator().manual_seed(2)))
    off = dict(p_blur=0, p_resample=0, p_noise=0, p_patches=0)
    assert torch.allclose(degrade(x, torch.Generator().manual_seed(1), **off), x, atol=1e-6)
    dot = torch.zeros(2, 3, 48, 40)
    dot[:, :, 20, 13] = 1
    blurred = degrade(dot, torch.Generator().manual_seed(3), **{**off, "p_blur": 1})
    w = blurred[:, 0]
    ys, xs = torch.meshgrid(torch.arange(48.0), torch.arange(40.0), indexing="ij")
    assert float(w[0, 20, 13]) < 1  # it did blur
    for i in range(2):
        assert float((w[i] * ys).sum() / w[i].sum()) == pytest.approx(20, abs=1e-3)
        assert float((w[i] * xs).sum() / w[i].sum()) == pytest.approx(13, abs=1e-3)
    run = tmp_path / "run"
    train_main(["--config", str(TINY), "--stage", "parser", "--out", str(run), "--steps", "1", "--log-every", "1",
                "--device", "cpu", "parser_degrade=true"])
    train_main(["--stage", "parser", "--out", str(run), "--steps", "2", "--log-every", "1", "--device", "cpu",
                "--resume", "parser_degrade=false"])  # a recipe switch, so it may change on resume
    state = load_checkpoint(run / "ckpt.pt")
    assert state["progress"]["parser"] == 2 and state["config"]["parser_degrade"] is False


def test_a_stage_resumed_without_its_optimiser_ramps_its_learning_rate_up_again(tmp_path):
    from durian_export.checkpoint import slim_checkpoint
    from durian_export.train import lr_at

    run = tmp_path / "run"
    common = ["--stage", "vae", "--steps", "20", "--log-every", "1", "--device", "cpu"]
    train_main(["--config", str(TINY), "--out", str(run), "--stop-after", "4"] + common)
    slim_checkpoint(run, tmp_path / "slim")  # weights only: AdamW starts from nothing
    train_main(["--out", str(tmp_path / "slim"), "--resume", "--stop-after", "6"] + common)
    cfg = tiny_cfg()
    logged = [json.loads(line)["lr"] for line in (tmp_path / "slim" / "loss.jsonl").read_text().splitlines()]
    for i, lr in enumerate(logged):  # steps 4 … 9 of the schedule, ramped over the config's 5-step warm-up
        assert lr == pytest.approx(lr_at(4 + i, cfg, 20) * min(1.0, (i + 1) / cfg.warmup)), i
    # a full checkpoint carries its optimiser and continues on the schedule itself
    train_main(["--out", str(run), "--resume", "--stop-after", "1"] + common)
    last = json.loads((run / "loss.jsonl").read_text().splitlines()[-1])
    assert last["lr"] == pytest.approx(lr_at(4, cfg, 20))

def test_a_stage_after_one_that_stopped_early_starts_from_its_ema(tmp_path, one_thread):
    """Stage 2 chained on a host's full checkpoint, after a stage-1 chunk stopped at its deadline: the
    stage-1 weights it builds on (and keeps, as it trains only the temporal layers) are stage 1's EMA,
    the same as from the slim checkpoint, not the raw last step."""
    run = tmp_path / "run"
    common = ["--device", "cpu", "--log-every", "1", "--batch-size", "1", "--out", str(run)]
    train_main(["--config", str(TINY), "--stage", "stage1", "--steps", "20", "--stop-after", "3"] + common)
    s1 = torch.load(run / "ckpt.pt", weights_only=False)
    assert s1["stage"] == "stage1" and not s1["finished"]
    model = Durian(TrainConfig.from_json(s1["config"]))
    names = {id(p): n for n, p in model.named_parameters()}
    stage1 = [names[id(p)] for p in model.trainable("stage1")]
    temporal = {names[id(p)] for p in model.trainable("stage2")}
    ema = dict(zip(stage1, s1["ema"]))
    spatial = [n for n in stage1 if n not in temporal]
    assert any(not torch.equal(ema[n], s1["model"][n]) for n in spatial)  # the EMA is not the raw weights
    from durian_export.checkpoint import load_checkpoint, slim_checkpoint
    slim_checkpoint(run, tmp_path / "slim", ema=True)  # the slim carries the same EMA (in fp16)
    slim = load_checkpoint(tmp_path / "slim" / "ckpt.pt")["model"]
    for n in spatial:
        assert torch.equal(slim[n], ema[n].half().float()), n
    train_main(["--stage", "stage2", "--resume", "--steps", "5", "--stop-after", "1"] + common)
    s2 = torch.load(run / "ckpt.pt", weights_only=False)
    assert s2["progress"]["stage2"] == 1
    for n in spatial:
        assert torch.equal(s2["model"][n], ema[n]), n


# --- the fast data path (data/pool.py) and ordered clips ---

def _target_columns(cfg, plan, step: int, B: int, F: int) -> list[list[int]]:
    """The clip columns a rank-0 batch plan's target frames came from, read back through the yaw of
    each person's whole 2-second motion (the people are redrawn as plan_batch draws them)."""
    import random

    from durian_export.data.synth_data import CLIP_LEN
    from durian_export.synth import sample_motion
    rng = random.Random(hash((cfg.train_seed, step, 0)) & 0x7FFFFFFF)
    idx = [rng.randrange(cfg.hold_out_seed) for _ in range(B)]
    full = sample_motion(cfg.train_seed, idx, frames=CLIP_LEN).yaw
    yaw = plan.motion.yaw[:B * (2 + F), 0].reshape(B, 2 + F)
    return [[int((full[n] == v).nonzero()[0]) for v in yaw[n, 2:]] for n in range(B)]


def test_stage2_targets_are_an_ordered_contiguous_run_of_the_clip():
    cfg = tiny_cfg("cross_identity=0.5")
    maker = SynthBatchMaker(cfg)
    plan = maker.plan_batch(step=5, rank=0, batch=3, frames=4)
    B, per = 3, 2 + 4
    yaw = plan.motion.yaw[:B * per, 0].reshape(B, per)
    for cols in _target_columns(cfg, plan, 5, B, 4):
        assert cols == list(range(cols[0], cols[0] + 4)), cols
    # the cross-identity ground truths follow the same frames
    gt_yaw = plan.motion.yaw[B * per + 2 * B:, 0].reshape(B, 5)
    torch.testing.assert_close(gt_yaw[:, 1:], yaw[:, 2:])


def test_clip_sampling_strided_runs_and_random_frames():
    import random

    from durian_export.data.synth_data import CLIP_LEN, clip_columns

    # the default draws exactly what it drew before the option existed (a resumed run's batches stay)
    a, b = random.Random(7), random.Random(7)
    start = b.randrange(CLIP_LEN - 16 + 1)
    assert clip_columns(a, 16) == [b.randrange(CLIP_LEN), b.randrange(CLIP_LEN)] + list(range(start, start + 16))
    rng = random.Random(1)
    for _ in range(200):
        cols = clip_columns(rng, 16, stride=3)
        targets = cols[2:]
        assert [y - x for x, y in zip(targets, targets[1:])] == [3] * 15 and 0 <= targets[0] and targets[-1] < CLIP_LEN
        cols = clip_columns(rng, 8, sampling="random")
        assert len(set(cols)) == 10 and all(0 <= c < CLIP_LEN for c in cols)
    # random order really is unordered: over many draws, some target runs go backwards
    assert any(c[3] < c[2] for c in (clip_columns(rng, 8, sampling="random") for _ in range(50)))
    with pytest.raises(ValueError, match="spans 61 frames; the clip has 50"):
        clip_columns(rng, 16, stride=4)
    with pytest.raises(ValueError, match="clip_sampling must be one of"):
        clip_columns(rng, 4, sampling="shuffled")
    with pytest.raises(ValueError, match="clip_stride=0"):
        clip_columns(rng, 4, stride=0)


def test_stage2_batch_follows_clip_sampling():
    cfg = tiny_cfg("clip_stride=2")
    plan = SynthBatchMaker(cfg).plan_batch(step=3, rank=0, batch=2, frames=4)
    for cols in _target_columns(cfg, plan, 3, 2, 4):
        assert cols == list(range(cols[0], cols[0] + 8, 2)), cols


def test_a_clip_setting_the_clip_cannot_hold_stops_training_before_any_step(tmp_path):
    with pytest.raises(ValueError, match="clip_stride=9 with 8 frames spans 64"):
        train_main(["--config", str(TINY), "--stage", "stage2", "--out", str(tmp_path), "--steps", "2",
                    "--device", "cpu", "clip_stride=9", "frames=8"])
    assert not (tmp_path / "ckpt.pt").exists()


def test_held_out_batches_draw_only_held_out_people():
    cfg = tiny_cfg()
    train = SynthBatchMaker(cfg).plan_batch(0, 0, 4, 1)
    held = SynthBatchMaker(cfg, held_out=True).plan_batch(0, 0, 4, 1)
    assert not torch.equal(train.ident.head, held.ident.head)
    import random

    from durian_export.synth import sample_identities
    rng = random.Random(hash((cfg.train_seed, 0, 0, 2)) & 0x7FFFFFFF)
    idx = [rng.randrange(cfg.hold_out_seed, 2 * cfg.hold_out_seed) for _ in range(4)]
    torch.testing.assert_close(held.ident.head[:4 * 3:3], sample_identities(cfg.train_seed, idx).head)


def test_training_renders_do_not_depend_on_the_callers_autocast_or_grad_mode(one_thread):
    # The pool renders from its first fill (plain), after a step (plain) and inside a step's draw
    # (bf16 autocast); evaluation renders under no_grad. The compiled renderer recompiled for each
    # new state, and under autocast its matrix products ran in bf16: the same plan gave other pixels.
    maker = SynthBatchMaker(tiny_cfg(), "cpu")
    plan = maker.plan_images(0, 0, 2)
    plain = maker.realize_images(plan)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under_amp = maker.realize_images(plan)
    for a, b in zip(plain, under_amp):
        assert a.dtype == b.dtype == torch.float32 and not b.requires_grad
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_pool_holds_encoded_chunks_and_refreshes_the_oldest(one_thread):
    from durian_export.components import encode_batch
    from durian_export.data.pool import Pool

    cfg = tiny_cfg("cross_identity=0.5")
    torch.manual_seed(0)
    model = Durian(cfg).eval()
    maker = SynthBatchMaker(cfg)
    pool = Pool(cfg, model, "stage2", maker, size=6, refresh=2, rank=0, start_step=10)
    # chunk 11 sits in slot 11 mod 3 = 2: its latents are the encode of that chunk's batch
    lb = encode_batch(model, maker.batch(11, 0, 2, cfg.frames))
    torch.testing.assert_close(pool.store["x0"][4:6], lb.x0)
    torch.testing.assert_close(pool.store["attr_in"][4:6], lb.attr_in)
    assert pool.store["pose"].dtype == torch.uint8
    before = pool.store["x0"].clone()
    b = pool.batch(step=10, batch=4)
    assert b.latents.x0.shape == (4, 4, cfg.frames, 8, 8)
    # the refresh waits until the trainer has launched the step (Trainer.after_step)
    assert torch.equal(pool.store["x0"], before)
    pool.replace_oldest()
    # step 10 replaced chunk 10 (slot 1) by chunk 13 and left the others alone
    assert not torch.equal(pool.store["x0"][2:4], before[2:4])
    assert torch.equal(pool.store["x0"][[0, 1, 4, 5]], before[[0, 1, 4, 5]])
    after = pool.store["x0"].clone()
    pool.replace_oldest()  # once per draw
    assert torch.equal(pool.store["x0"], after)
    # a draw whose refresh nobody ran does it first: step 12 draws from chunks 12 … 14 (chunk 14 in slot 2)
    pool.batch(step=11, batch=4)
    pool.batch(step=12, batch=4)
    lb = encode_batch(model, maker.batch(14, 0, 2, cfg.frames))
    torch.testing.assert_close(pool.store["x0"][4:6], lb.x0)


def test_pool_plans_from_worker_processes_match_in_process_plans():
    from durian_export.data.pool import plan_stream

    cfg = tiny_cfg("cross_identity=0.5")
    here = plan_stream(cfg, "stage1", 0, 2, 1, start=7, workers=0)
    there = plan_stream(cfg, "stage1", 0, 2, 1, start=7, workers=2)
    for _ in range(3):
        a, b = next(here), next(there)
        assert a.classes == b.classes and a.seed == b.seed
        torch.testing.assert_close(a.motion.yaw, b.motion.yaw)
        torch.testing.assert_close(a.attrs.hair_colour, b.attrs.hair_colour)


@pytest.mark.parametrize("stage,recipe", [("stage1", []), ("vae", []),
                                          ("vae", ["vae_frames=2", "vae_temporal_weight=1"])])
def test_resume_on_the_pool_reproduces_the_uninterrupted_run(tmp_path, one_thread, stage, recipe):
    common = ["--config", str(TINY), "--stage", stage, "--steps", "4", "--log-every", "1", "--device", "cpu",
              "--pool", "6", "--pool-refresh", "2", "--eval-every", "2", "--eval-batches", "1"] + recipe
    train_main(common + ["--out", str(tmp_path / "a")])
    train_main(common + ["--out", str(tmp_path / "b"), "--stop-after", "2"])
    train_main(common[2:] + ["--resume", "--out", str(tmp_path / "b")])
    assert losses(tmp_path / "a", stage) == losses(tmp_path / "b", stage)
    records = [json.loads(line) for line in (tmp_path / "a" / "loss.jsonl").read_text().splitlines()]
    held = [r.get("heldout_loss") for r in records]
    assert held[1] is not None and held[0] is None
    # diffusion stages also log the implied x0's error at three noise levels (denoise_check)
    if stage == "stage1":
        x0 = records[1]["heldout_x0_rel"]
        assert list(x0) == ["300", "700", "900"] and all(v > 0 for v in x0.values())
        assert "heldout_x0_rel" not in records[0]
    else:
        assert all("heldout_x0_rel" not in r for r in records)
    a = torch.load(tmp_path / "a" / "ckpt.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "b" / "ckpt.pt", weights_only=False)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.skipif(not torch.cuda.is_available(),
                    reason="the compiled step (torch.compile, bf16) is a CUDA path; the CPU tests run it eager")
def test_compiled_step_matches_the_eager_step_on_cuda():
    cfg = load_config(ROOT / "configs" / "base.json")
    torch.manual_seed(0)
    model = Durian(cfg).cuda().train()
    data = SynthBatchMaker(cfg, "cuda")
    eager = Trainer(model, "stage1", data, 8, torch.device("cuda"))
    compiled = Trainer(model, "stage1", data, 8, torch.device("cuda"), compile=True)
    a, b = eager.loss(3), compiled.loss(3)
    assert abs(float(a) - float(b)) / float(a) < 2e-2, (float(a), float(b))


def test_planning_batches_in_worker_processes_leaves_the_run_unchanged(tmp_path, one_thread):
    common = ["--config", str(TINY), "--stage", "stage1", "--steps", "3", "--log-every", "1", "--device", "cpu"]
    train_main(common + ["--out", str(tmp_path / "a")])
    train_main(common + ["--out", str(tmp_path / "b"), "--data-workers", "2"])
    assert losses(tmp_path / "a", "stage1") == losses(tmp_path / "b", "stage1")


def test_aligned_attribute_references_fit_the_portrait_better():
    """With align_attribute, a donor's attribute mask is warped onto the portrait's keypoints (as the
    CLI does): it overlaps the renderer's ground truth of the portrait wearing it better."""
    def iou(a, b):
        return float(((a > 0.5) & (b > 0.5)).sum()) / max(1.0, float(((a > 0.5) | (b > 0.5)).sum()))

    common = ("augmentation=false", "cross_identity=1.0", "model.image_size=128")
    plain = SynthBatchMaker(tiny_cfg(*common))
    aligned = SynthBatchMaker(tiny_cfg(*common, "align_attribute=true"))
    plan = plain.plan_batch(step=1, rank=0, batch=6, frames=1)
    truth = plain.render(plan.ident, plan.attrs, plan.motion, size=128)
    B = 6
    o = B * 3 + B  # the ground truths' rows: after the clips' frames and the mask-expansion renders, the donors
    cls = torch.tensor([catalog.MASK_CLASSES.index(c) for c in plan.classes])
    gt = truth.masks[o + B::2, 0][torch.arange(B), cls]  # the portrait frame of each ground-truth clip
    with_ = aligned.realize(plan).attr_mask[:, 0]
    without = plain.realize(plan).attr_mask[:, 0]
    better = sum(iou(with_[i], gt[i]) for i in range(B)) / B
    worse = sum(iou(without[i], gt[i]) for i in range(B)) / B
    assert better > worse + 0.05, (better, worse)


def test_graft_of_a_stage_takes_its_temporal_layers_and_nothing_else(tmp_path):
    """checkpoint graft --stages stage2: the donor's temporal layers in the run's UNet, every other
    weight the run's own; the run records the donor's stage-2 steps."""
    from durian_export.checkpoint import graft_checkpoint, load_checkpoint, load_model

    common = ["--log-every", "1", "--device", "cpu", "--batch-size", "2"]
    train_main(["--config", str(TINY), "--stage", "stage1", "--out", str(tmp_path / "d"), "--steps", "1"] + common)
    train_main(["--stage", "stage2", "--out", str(tmp_path / "d"), "--steps", "2", "--resume", "lr=1e-2",
                "warmup=0"] + common)
    train_main(["--config", str(TINY), "--stage", "stage1", "--out", str(tmp_path / "r"), "--steps", "2"] + common)
    with pytest.raises(SystemExit, match="has not trained stage2"):
        graft_checkpoint(tmp_path / "d", tmp_path / "r", [], tmp_path / "x", stages=["stage2"])
    graft_checkpoint(tmp_path / "r", tmp_path / "d", [], tmp_path / "g", stages=["stage2"])
    state = load_checkpoint(tmp_path / "g" / "ckpt.pt")
    assert state["progress"]["stage2"] == 2
    r, d, g = (load_model(tmp_path / n).state_dict() for n in ("r", "d", "g"))
    temporal = [k for k in g if ".temporal." in k]
    assert temporal and any(not torch.equal(r[k], d[k]) for k in temporal)
    for k in g:  # the slim keeps the trained nets in fp16; the rest rebuild from the seed
        src = d if ".temporal." in k else r
        halved = k.split(".")[0] in state["nets"] and src[k].is_floating_point()
        assert torch.equal(src[k].half().float() if halved else src[k], g[k]), k


def test_unstage_puts_a_stages_weights_back_at_their_init_and_stage1_continues(tmp_path):
    """checkpoint unstage --stages stage2: the temporal layers back at the seeded init (what a run
    that never trained stage 2 holds), every other weight the run's own, stage 2's count 0; stage 1
    then resumes from it."""
    from durian_export.checkpoint import load_checkpoint, load_model, unstage_checkpoint

    common = ["--log-every", "1", "--device", "cpu", "--batch-size", "2"]
    train_main(["--config", str(TINY), "--stage", "stage1", "--out", str(tmp_path / "s1"), "--steps", "1"] + common)
    train_main(["--stage", "stage2", "--out", str(tmp_path / "s1"), "--steps", "2", "--resume", "lr=1e-2",
                "warmup=0"] + common)
    with pytest.raises(SystemExit, match="no stage 'stage9'"):
        unstage_checkpoint(tmp_path / "s1", ["stage9"], tmp_path / "x")
    unstage_checkpoint(tmp_path / "s1", ["stage2"], tmp_path / "u")
    state = load_checkpoint(tmp_path / "u" / "ckpt.pt")
    assert state["progress"]["stage2"] == 0 and state["progress"]["stage1"] == 1
    torch.manual_seed(tiny_cfg().seed)
    init = Durian(tiny_cfg()).state_dict()
    trained, u = load_model(tmp_path / "s1").state_dict(), load_model(tmp_path / "u").state_dict()
    temporal = [k for k in u if ".temporal." in k]
    assert temporal and any(not torch.equal(trained[k], init[k]) for k in temporal)
    for k in u:
        src = init if ".temporal." in k else trained
        halved = k.split(".")[0] in state["nets"] and src[k].is_floating_point()
        assert torch.equal(src[k].half().float() if halved else src[k], u[k]), k
    train_main(["--stage", "stage1", "--out", str(tmp_path / "u"), "--steps", "2", "--resume"] + common)
    assert load_checkpoint(tmp_path / "u" / "ckpt.pt")["progress"]["stage1"] == 2


def test_grow_adds_blocks_that_leave_the_function_alone_and_train_on(tmp_path):
    """checkpoint grow --unet-blocks 2: every UNet-layout net gets a second block a level; the grown
    model computes what the old one did (its fp16 weights), has more parameters, and resumes training."""
    from durian_export.checkpoint import grow_checkpoint, load_checkpoint, load_model
    from durian_export.components import DiffusionObjective, Draws, encode_batch, null_reference

    common = ["--log-every", "1", "--device", "cpu", "--batch-size", "2"]
    train_main(["--config", str(TINY), "--stage", "stage1", "--out", str(tmp_path / "r"), "--steps", "1"] + common)
    train_main(["--stage", "stage2", "--out", str(tmp_path / "r"), "--steps", "2", "--resume", "lr=1e-2",
                "warmup=0"] + common)
    with pytest.raises(SystemExit, match="already has 1"):
        grow_checkpoint(tmp_path / "r", tmp_path / "x", 1)
    grow_checkpoint(tmp_path / "r", tmp_path / "g", 2)
    old, new = load_model(tmp_path / "r"), load_model(tmp_path / "g")
    assert load_checkpoint(tmp_path / "g" / "ckpt.pt")["config"]["model"]["unet_blocks"] == 2
    with torch.no_grad():  # the grown slim holds fp16 weights: compare with the old model rounded alike
        for p in old.parameters():
            p.copy_(p.half().float())
    assert sum(p.numel() for p in new.unet.parameters()) > 1.3 * sum(p.numel() for p in old.unet.parameters())
    assert new.unet.num_ref_layers > old.unet.num_ref_layers
    cfg = old.cfg
    lb = encode_batch(old, SynthBatchMaker(cfg, "cpu").batch(0, 0, 2, 3))
    d = Draws.draw(cfg, lb.x0.shape, torch.Generator().manual_seed(0))
    d.keep = torch.ones(2)  # the conditional branch: references in play
    losses = []
    for m in (old.eval(), new.eval()):
        with torch.no_grad():
            losses.append(float(DiffusionObjective(m)(lb.x0, lb.portrait_in, lb.attr_in, lb.pose, d.keep,
                                                      d.pose_keep, d.noise, d.t, null_reference(m, lb.portrait_in))))
    assert abs(losses[0] - losses[1]) < 1e-5 * max(1.0, losses[0])
    # and it trains on: stage 1 resumes on the grown model and moves its new blocks
    train_main(["--stage", "stage1", "--out", str(tmp_path / "g"), "--steps", "2", "--resume"] + common)
    after = load_model(tmp_path / "g")
    k = "unet.down.0.1.res.conv2.weight"
    assert float(new.state_dict()[k].abs().max()) == 0 and float(after.state_dict()[k].abs().max()) > 0


def test_grow_deepens_the_vae_decoder_with_the_same_function_and_trains_on(tmp_path):
    """checkpoint grow --vae-decoder-blocks 3: each decoder level gets a third ResBlock after its two;
    the grown decoder draws what the old one did (its fp16 weights) from any latent, the encoder is
    untouched, the old layers keep their weights at their new places, and the VAE stage resumes on it
    with the encoder frozen and moves the new blocks."""
    from durian_export.checkpoint import grow_checkpoint, load_checkpoint, load_model
    from durian_export.models.vae import decoder_blocks, decoder_layout

    run = tmp_path / "r"
    common = ["--stage", "vae", "--log-every", "1", "--device", "cpu"]
    train_main(["--config", str(TINY), "--out", str(run), "--steps", "2"] + common)
    with pytest.raises(SystemExit, match="decoder already has 2"):
        grow_checkpoint(run, tmp_path / "x", vae_decoder_blocks=2)
    with pytest.raises(SystemExit, match="ask for"):
        grow_checkpoint(run, tmp_path / "x")
    grow_checkpoint(run, tmp_path / "g", vae_decoder_blocks=3)
    state = load_checkpoint(tmp_path / "g" / "ckpt.pt")
    assert state["config"]["model"]["vae_decoder_blocks"] == 3
    assert state["grown"]["vae_decoder_blocks"] == [2, 3]
    old, new = load_model(run), load_model(tmp_path / "g")
    assert decoder_blocks(new.cfg.model) == 3 and len(new.vae.decoder.body) == len(old.vae.decoder.body) + 4
    with torch.no_grad():  # the grown slim holds fp16 weights: compare with the old model rounded alike
        for p in old.parameters():
            p.copy_(p.half().float())
    o, n = old.vae.state_dict(), new.vae.state_dict()
    assert all(torch.equal(o[k], n[k]) for k in o if k.startswith("encoder."))
    # the second level's second block: index 4 of the old body (two blocks and an upsampling before
    # it), index 5 of the grown one (three and an upsampling)
    assert decoder_layout(4, 2)[4] == decoder_layout(4, 3)[5] == (1, 1)
    assert torch.equal(o["decoder.body.4.conv2.weight"], n["decoder.body.5.conv2.weight"])
    z = torch.randn(2, new.cfg.model.latent_channels, 8, 8, generator=torch.Generator().manual_seed(0)) * 2
    old.eval(), new.eval()
    with torch.no_grad():
        assert (old.vae.decoder(z) - new.vae.decoder(z)).abs().max() < 1e-5
    train_main(["--out", str(tmp_path / "g"), "--steps", "4", "--resume", "vae_freeze_encoder=true"] + common)
    after = load_model(tmp_path / "g")
    k = "vae.decoder.body.2.conv2.weight"  # the first level's new block
    assert float(new.state_dict()[k].abs().max()) == 0 and float(after.state_dict()[k].abs().max()) > 0
    assert all(torch.equal(n[k], after.vae.state_dict()[k]) for k in n if k.startswith("encoder."))


def test_texture_term_ignores_where_the_detail_lies_and_l1_prefers_the_flat_fill():
    """vae_texture_weight's term (components.texture_loss): a strand pattern shifted by half its
    period costs a small fraction of what a flat fill costs, where L1 prefers the flat fill; the
    weight adds exactly that term to the VAE loss, and 0 leaves the loss as it was."""
    import math

    from durian_export.components import texture_loss, vae_loss

    yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    x = (0.8 * torch.sin(2 * math.pi * (xx + 0.3 * yy) / 4)).expand(1, 3, 64, 64).contiguous()  # in [-1, 1]
    shifted, flat = torch.roll(x, 2, dims=-1), torch.zeros_like(x)
    assert texture_loss(shifted, x) < 0.1 * texture_loss(flat, x)
    assert (flat - x).abs().mean() < (shifted - x).abs().mean()

    torch.manual_seed(0)
    model = Durian(tiny_cfg())
    size = model.cfg.model.image_size
    images = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    noise_shape = model.vae.encoder(images * 2 - 1)[0].shape
    noise = torch.randn(noise_shape, generator=torch.Generator().manual_seed(2))
    base = vae_loss(model, images, None, noise)
    model.cfg.vae_texture_weight = 0.5
    with_term = vae_loss(model, images, None, noise)
    with torch.no_grad():
        mean, logvar = model.vae.encoder(images * 2 - 1)
        rec = model.vae.decoder(mean + noise * torch.exp(0.5 * logvar))
        term = float(texture_loss(rec, images * 2 - 1))
    assert term > 0
    assert float(with_term - base) == pytest.approx(0.5 * term, rel=1e-4)


def test_vae_runs_of_frames_share_their_noise_and_the_frame_term_counts_only_errors_that_change():
    """vae_frames / vae_temporal_weight: a VAE sample is a run of consecutive frames of one clip;
    the frames of a run share the latent's ε; the frame-to-frame term is 0 for an error that stays
    put and counts one that comes and goes; the weight adds exactly that term to the loss."""
    from durian_export.components import frame_change_loss, reconstruction_loss, vae_forward, vae_loss

    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 3, 16, 16, generator=g)
    err = 0.1 * torch.randn(2, 1, 3, 16, 16, generator=g)
    assert float(frame_change_loss(x + err, x)) == pytest.approx(0, abs=1e-7)
    flicker = err * torch.tensor([1.0, -1.0, 1.0]).view(1, 3, 1, 1, 1)
    assert float(frame_change_loss(x + flicker, x)) > 0.1
    # each frame's own terms cannot tell the two apart
    model = Durian(tiny_cfg())
    assert float(reconstruction_loss(model, x + err, x)) == pytest.approx(float(reconstruction_loss(model, x + flicker, x)))

    torch.manual_seed(0)
    model = Durian(tiny_cfg())
    size = model.cfg.model.image_size
    frame = torch.rand(2, 1, 3, size, size, generator=g)
    still = frame.expand(2, 3, 3, size, size)
    with torch.no_grad():
        xs, rec, _ = vae_forward(model, still, torch.Generator().manual_seed(1))
    assert rec.shape == still.shape and xs.shape == still.shape
    torch.testing.assert_close(rec[:, 1], rec[:, 0]) and torch.testing.assert_close(rec[:, 2], rec[:, 0])
    assert not torch.allclose(rec[0, 0], rec[1, 0])  # the runs' draws differ

    run = torch.rand(2, 3, 3, size, size, generator=g)
    noise = torch.randn(model.vae.encoder(run[:, 0] * 2 - 1)[0].shape, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        base = vae_loss(model, run, None, noise)
        model.cfg.vae_temporal_weight = 0.5
        weighted = vae_loss(model, run, None, noise)
        xs, rec, _ = vae_forward(model, run, None, noise)
    assert float(weighted - base) == pytest.approx(0.5 * float(frame_change_loss(rec, xs)), rel=1e-4)

    # rendered runs: consecutive frames of one clip, far closer to each other than to another clip's
    maker = SynthBatchMaker(tiny_cfg(), "cpu")
    rgb, masks, kp = maker.images(3, 0, 2, frames=2)
    assert rgb.shape == (2, 2, 3, size, size) and kp.shape == (2, 2, 68, 2)
    assert (rgb[0, 1] - rgb[0, 0]).abs().mean() < 0.5 * (rgb[1, 0] - rgb[0, 0]).abs().mean()
    assert maker.images(3, 0, 2)[0].shape == (2, 3, size, size)
    with pytest.raises(ValueError, match="consecutive"):
        maker.plan_images(3, 0, 2, frames=26)


def test_structure_term_counts_a_lost_faint_edge_that_l1_barely_sees():
    """vae_ssim_weight's term (components.structure_loss): on a dark image, losing a faint edge costs
    L1 no more than a slight overall brightening does, but costs the structure term far more; the
    weight adds exactly that term to the loss."""
    from durian_export.components import reconstruction_loss, structure_loss

    x = torch.full((1, 3, 64, 64), -0.8)
    x[..., 20:44, 20:44] = -0.75  # a faint square, 0.05 of the [-1, 1] range brighter than its surround
    flat = torch.full_like(x, -0.8)  # the square lost
    brighter = x + ((flat - x).abs().mean())  # the same L1, spread as a uniform offset
    assert float((flat - x).abs().mean()) == pytest.approx(float((brighter - x).abs().mean()), rel=1e-4)
    assert float(structure_loss(flat, x)) > 5 * float(structure_loss(brighter, x))
    model = Durian(tiny_cfg())
    base = reconstruction_loss(model, flat, x)
    model.cfg.vae_ssim_weight = 0.5
    assert float(reconstruction_loss(model, flat, x) - base) == pytest.approx(0.5 * float(structure_loss(flat, x)), rel=1e-5)


def test_vae_adversary_resumes_exactly_keeps_the_encoder_and_stays_out_of_slims(tmp_path, one_thread):
    """vae_adv_weight: a patch discriminator trains beside the decoder (adversary.Adversary). Its
    weights, optimiser and step count travel in the full checkpoint, so a resumed run matches the
    uninterrupted one bit for bit; its verdict reaches the decoder only after vae_adv_warmup of its
    steps; the frozen encoder stays as it was; a slim checkpoint leaves the discriminator out."""
    from durian_export.checkpoint import load_checkpoint, slim_checkpoint

    common = ["--config", str(TINY), "--stage", "vae", "--steps", "6", "--log-every", "1", "--device", "cpu",
              "vae_adv_weight=0.5", "vae_adv_warmup=2", "vae_freeze_encoder=true"]
    train_main(common + ["--out", str(tmp_path / "a")])
    train_main(common + ["--out", str(tmp_path / "b"), "--stop-after", "3"])
    train_main(["--stage", "vae", "--steps", "6", "--log-every", "1", "--device", "cpu", "--resume",
                "--out", str(tmp_path / "b")])
    assert losses(tmp_path / "a", "vae") == losses(tmp_path / "b", "vae")
    a, b = (load_checkpoint(tmp_path / r / "ckpt.pt") for r in "ab")
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    da, db = a["adversary"]["disc"], b["adversary"]["disc"]
    assert a["adversary"]["steps"] == b["adversary"]["steps"] == 6
    assert all(torch.equal(da[k], db[k]) for k in da)
    rows = [json.loads(line) for line in (tmp_path / "a" / "loss.jsonl").read_text().splitlines()]
    assert "g_adv" not in rows[0] and "g_adv" in rows[-1] and rows[-1]["adv_balance"] > 0
    torch.manual_seed(tiny_cfg().seed)
    init = Durian(tiny_cfg()).state_dict()
    enc = [k for k in init if k.startswith("vae.encoder.")]
    dec = [k for k in init if k.startswith("vae.decoder.") and init[k].is_floating_point()]
    assert all(torch.equal(init[k], a["model"][k]) for k in enc)
    assert any(not torch.equal(init[k], a["model"][k]) for k in dec)
    slim_checkpoint(tmp_path / "a", tmp_path / "slim")
    assert "adversary" not in load_checkpoint(tmp_path / "slim" / "ckpt.pt")


def test_vae_denoised_t_trains_the_decoder_on_the_denoisers_guided_estimates():
    """vae_denoised_t: the decoder is trained on the frozen denoiser's clean-latent estimate of a
    target clip noised to t < vae_denoised_t, guided as the samplers guide (the unconditional branch
    drops the references and the pose; the guided estimate is linear in the scale), decoded against
    the clip's frames. Only the decoder takes a gradient; the pool carries the targets beside the
    latents; combinations it does not support refuse."""
    from durian_export.components import (
        DenoisedDecoderObjective,
        denoised_draws,
        encode_batch,
        null_reference,
        reconstruction_loss,
    )
    from durian_export.config import stage_frames
    from durian_export.data.pool import Pool
    from durian_export.held_out import HeldOut

    cfg = tiny_cfg("vae_denoised_t=50")
    assert stage_frames(cfg, "vae") == cfg.frames > 1
    torch.manual_seed(0)
    model = Durian(cfg)
    with torch.no_grad():  # off the init, whose zeroed layers make the references and pose count for nothing
        for p in model.parameters():
            p.add_(0.02 * torch.randn_like(p))
    b = SynthBatchMaker(cfg).batch(0, 0, 2, cfg.frames)
    lb = encode_batch(model, b)
    noise, t = denoised_draws(cfg, lb.x0.shape, torch.Generator().manual_seed(1))
    assert noise.shape == lb.x0.shape and t.shape == (2,) and int(t.max()) < 50
    obj = DenoisedDecoderObjective(model)
    null = null_reference(model, lb.portrait_in)

    def estimate(scale):
        model.cfg.vae_denoised_guidance = scale
        return obj.estimate(lb.x0, lb.portrait_in, lb.attr_in, lb.pose, noise, t, null)

    # scale 1: the conditional branch alone, as the plain denoiser computes it
    with torch.no_grad():
        refs = model.references_of_inputs(lb.portrait_in, lb.attr_in)
        noisy = model.schedule.add_noise(lb.x0, noise, t)
        pred = model.denoise(noisy, t.float(), lb.pose, refs, torch.ones(2, 1, 1), torch.ones(2, cfg.frames, 1))
        cond = model.schedule.predict_x0(pred, noisy, t)
    e0, e1, e3 = estimate(0.0), estimate(1.0), estimate(3.0)
    torch.testing.assert_close(e1, cond, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(e3 - e1, 2 * (e1 - e0), rtol=1e-3, atol=1e-4)
    assert (e1 - e0).abs().max() > 1e-4  # the branches differ: the references and pose count
    model.cfg.vae_denoised_guidance = 5.0
    # one training step: gradients on the decoder alone
    trainer = Trainer(model, "vae", SynthBatchMaker(cfg), 1, torch.device("cpu"))
    trainer.loss(0).backward()
    got = {n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert got and all(n.startswith("vae.decoder.") for n in got)
    assert float(HeldOut(trainer, 1).loss()) > 0
    # vae_denoised_roundtrip: the encoder's latents of the same frames decoded beside, at that weight
    x = b.target * 2 - 1
    with torch.no_grad():
        args = (b.target, lb.x0, lb.portrait_in, lb.attr_in, lb.pose, noise, t, null)
        alone = obj(*args)
        model.cfg.vae_denoised_roundtrip = 0.5
        both = obj(*args)
        model.cfg.vae_denoised_roundtrip = 0.0
        rec = model.vae.decoder(lb.x0.permute(0, 2, 1, 3, 4).flatten(0, 1) / cfg.latent_scale)
        trip = reconstruction_loss(model, rec.reshape(*x.shape), x)
    assert float(trip) > 0
    torch.testing.assert_close(both, alone + 0.5 * trip, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="without vae_denoised_t"):
        Trainer(Durian(tiny_cfg("vae_denoised_roundtrip=1")), "vae", SynthBatchMaker(cfg), 1, torch.device("cpu"))
    # the pool: the latents and the target frames of the same clips
    pool = Pool(cfg, model, "vae", SynthBatchMaker(cfg), size=4, refresh=2, rank=0, start_step=0)
    drawn = pool.batch(0, 2)
    H, W = b.target.shape[-2:]
    assert drawn.latents.x0.shape == lb.x0.shape and drawn.images.shape == (2, cfg.frames, 3, H, W)
    assert 0 <= float(drawn.images.min()) < float(drawn.images.max()) <= 1
    with pytest.raises(ValueError, match="does not combine with vae_frames"):
        Trainer(Durian(tiny_cfg("vae_denoised_t=50", "vae_frames=2")), "vae", SynthBatchMaker(cfg), 1,
                torch.device("cpu"))
    with pytest.raises(ValueError, match="at most num_train_timesteps"):
        denoised_draws(tiny_cfg(f"vae_denoised_t={cfg.num_train_timesteps + 1}"), lb.x0.shape, torch.Generator())
