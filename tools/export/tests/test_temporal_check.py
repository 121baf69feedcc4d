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
