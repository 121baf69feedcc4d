"""temporal_check: switching the temporal layers off and back on, and the paired comparison."""
import torch
from test_model import TINY

from durian_export.components import Durian
from durian_export.config import load_config
from durian_export.temporal_check import paired, temporal_off


def test_temporal_off_zeroes_every_temporal_output_and_restores_it():
    torch.manual_seed(0)
    model = Durian(load_config(TINY))
    outs = [m for n, m in model.unet.named_modules() if n.endswith("temporal.attn.to_out")]
    for m in outs:  # trained layers are not zero
        torch.nn.init.normal_(m.weight)
    before = [m.weight.clone() for m in outs]
    with temporal_off(model) as n:
        assert n == len(outs) > 0
        assert all(float(m.weight.abs().sum()) == 0 and float(m.bias.abs().sum()) == 0 for m in outs)
    assert all(torch.equal(m.weight, b) for m, b in zip(outs, before))


def test_paired_difference_and_its_interval():
    on = [21.0, 20.5, 19.0, 22.0, 20.0, 21.5]
    off = [20.0, 20.0, 18.5, 21.0, 19.0, 21.0]
    r = paired(on, off)
    assert abs(r["diff"] - 0.75) < 1e-9
    assert r["ci95"][0] <= r["diff"] <= r["ci95"][1]
    assert r["ci95"][0] > 0  # every case better: the interval excludes zero


def test_objective_gap_is_zero_for_untrained_temporal_layers_and_sees_trained_ones():
    from durian_export.temporal_check import objective_gap

    torch.manual_seed(0)
    model = Durian(load_config(TINY)).eval()
    torch.nn.init.normal_(model.unet.conv_out.weight, std=0.1)  # a fresh UNet's output is zero-initialised
    # fresh temporal layers are zero-initialised: on and off are the same model
    gap = objective_gap(model, batches=1, timesteps=[100, 900], frames=2)
    assert set(gap) == {"100", "900"}
    assert all(r["on"] == r["off"] > 0 for r in gap.values())
    for n, m in model.unet.named_modules():
        if n.endswith("temporal.attn.to_out"):
            torch.nn.init.normal_(m.weight, std=0.5)
    gap = objective_gap(model, batches=1, timesteps=[100], frames=2)
    assert gap["100"]["on"] != gap["100"]["off"]


def _trained_tiny():
    torch.manual_seed(0)
    model = Durian(load_config(TINY)).eval()
    torch.nn.init.normal_(model.unet.conv_out.weight, std=0.1)
    for n, m in model.unet.named_modules():
        if n.endswith("temporal.attn.to_out"):  # layers that do something
            torch.nn.init.normal_(m.weight, std=0.5)
    return model


def test_tracer_leaves_the_trajectory_alone_and_switches_the_layers_by_step():
    from durian_export.sample import sample_video, transfer_case
    from durian_export.temporal_check import Tracer

    model = _trained_tiny()
    case = transfer_case(model.cfg.hold_out_seed, 0, model.cfg.model.image_size, 3, "hair")
    kw = dict(steps=3, guidance_scale=3.0, seed=1, eta=1.0)
    with torch.no_grad():
        truth = model.encode(case.target).permute(1, 0, 2, 3)[None]
    on = sample_video(model, case, **kw)
    with temporal_off(model):
        off = sample_video(model, case, **kw)
    assert (on - off).abs().max() > 1e-3  # the layers matter in this model

    def traced(on_at):
        tr = Tracer(model, 3.0, on_at, truth, probe=True, target=case.target)
        return sample_video(model, case, denoise=tr, **kw), tr.rows

    # probing the other setting at every step changes nothing in the trajectory
    t_on, rows_on = traced(lambda t: True)
    t_off, rows_off = traced(lambda t: False)
    assert torch.equal(t_on, on) and torch.equal(t_off, off)
    assert [r["t"] for r in rows_on] == [r["t"] for r in rows_off] and len(rows_on) == 3
    # the first step sees the same input (the seed's noise) on both trajectories: each probe is the other's run
    assert abs(rows_on[0]["x0_err_other"] - rows_off[0]["x0_err"]) < 1e-5
    assert abs(rows_on[0]["x0_psnr_other"] - rows_off[0]["x0_psnr"]) < 1e-3
    assert rows_on[0]["noise_corr"] == rows_off[0]["noise_corr"]
    assert all(r["on"] for r in rows_on) and not any(r["on"] for r in rows_off)
    # on for the first (noisiest) step only: the trajectory leaves `on` after that step, and differs from `off`
    first = rows_on[0]["t"]
    hi, rows_hi = traced(lambda t: t >= first)
    assert [r["on"] for r in rows_hi] == [True, False, False]
    assert (hi - on).abs().max() > 1e-4 and (hi - off).abs().max() > 1e-4


def test_temporal_scaled_zero_is_off_and_one_is_as_trained():
    from durian_export.temporal_check import temporal_scaled

    model = _trained_tiny()
    outs = [m for n, m in model.unet.named_modules() if n.endswith("temporal.attn.to_out")]
    before = [m.weight.clone() for m in outs]
    with temporal_scaled(model, 0.5) as n:
        assert n == len(outs) > 0
        assert all(torch.allclose(m.weight, 0.5 * b) for m, b in zip(outs, before))
    assert all(torch.equal(m.weight, b) for m, b in zip(outs, before))
    with temporal_scaled(model, 0.0):
        assert all(float(m.weight.abs().sum()) == 0 for m in outs)


def test_one_case_gives_the_difference_without_an_interval():
    assert paired([21.0], [20.5]) == {"on": 21.0, "off": 20.5, "diff": 0.5, "ci95": None}
