"""The Euler sampler, and the scheduler goldens the TypeScript tests read."""
import json
from pathlib import Path

import pytest
import torch

from durian_export.make_fixtures import SCHEDULER_CASES, scheduler_fixture
from durian_export.schedulers import DDIMSampler, EulerDiscreteSampler, NoiseSchedule

FIXTURES = Path(__file__).resolve().parents[3] / "test" / "fixtures" / "schedulers"


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_euler_timesteps_and_exact_inversion(prediction_type):
    sched = NoiseSchedule(prediction_type=prediction_type)
    euler = EulerDiscreteSampler(sched, 20)
    assert euler.timesteps == DDIMSampler(sched, 20).timesteps  # leading, steps_offset=1
    assert euler.timesteps[:3] == [951, 901, 851] and euler.timesteps[-1] == 1
    assert len(euler.sigmas) == 21 and euler.sigmas[-1] == 0.0
    assert euler.init_noise_sigma == pytest.approx((euler.sigmas[0] ** 2 + 1) ** 0.5)

    torch.manual_seed(0)
    x0 = torch.randn(1, 4, 2, 4, 4)
    noise = torch.randn_like(x0)
    t_int = euler.timesteps[0]
    t = torch.tensor([t_int])
    ab = float(sched.alphas_cumprod[t_int])
    # Euler works in σ space: x_σ = x_t / √ᾱ = x₀ + σ ε
    x_sigma = sched.add_noise(x0, noise, t) / ab ** 0.5
    target = sched.target(x0, noise, t)
    _, pred_x0 = euler.step(target, t_int, x_sigma)
    torch.testing.assert_close(pred_x0, x0, rtol=1e-4, atol=1e-4)
    # the model sees x_σ / √(σ²+1) = x_t, the input it was trained on
    torch.testing.assert_close(euler.scale_model_input(x_sigma, t_int), sched.add_noise(x0, noise, t),
                               rtol=1e-5, atol=1e-5)


def test_euler_rejects_bad_steps_and_loop_indices():
    sched = NoiseSchedule()
    with pytest.raises(ValueError, match="num_inference_steps"):
        EulerDiscreteSampler(sched, 0)
    euler = EulerDiscreteSampler(sched, 10)
    with pytest.raises(ValueError, match="not one of"):
        euler.step(torch.zeros(1), 3, torch.zeros(1))


def _assert_close_tree(actual, expected, path="fixture"):
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and actual.keys() == expected.keys(), path
        for k in expected:
            _assert_close_tree(actual[k], expected[k], f"{path}.{k}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), path
        for i, (a, e) in enumerate(zip(actual, expected)):
            _assert_close_tree(a, e, f"{path}[{i}]")
    elif isinstance(expected, float):
        assert actual == pytest.approx(expected, rel=1e-5, abs=1e-6), path
    else:
        assert actual == expected, path


@pytest.mark.parametrize("stem,name,prediction_type,steps", SCHEDULER_CASES)
def test_committed_scheduler_fixtures_are_current(stem, name, prediction_type, steps):
    """Regenerate with `python -m durian_export.make_fixtures schedulers --out test/fixtures/schedulers`."""
    committed = json.loads((FIXTURES / f"{stem}.json").read_text())
    fresh = json.loads(json.dumps(scheduler_fixture(name, prediction_type, steps)))
    _assert_close_tree(fresh, committed, stem)


@pytest.mark.parametrize("stem,name,prediction_type,steps", SCHEDULER_CASES)
def test_fixtures_match_diffusers(stem, name, prediction_type, steps):
    """Only where diffusers happens to be installed; it is not a dependency."""
    diffusers = pytest.importorskip("diffusers")
    fixture = json.loads((FIXTURES / f"{stem}.json").read_text())
    config = {k: v for k, v in fixture["config"].items() if not k.startswith("_")}
    cls = diffusers.DDIMScheduler if name == "ddim" else diffusers.EulerDiscreteScheduler
    s = cls.from_config(config)
    s.set_timesteps(steps)
    assert [int(t) for t in s.timesteps] == fixture["timesteps"]
    assert float(s.init_noise_sigma) == pytest.approx(fixture["init_noise_sigma"], rel=1e-5)
    numel = 1
    for d in fixture["loop"]["shape"]:
        numel *= d
    x = (torch.arange(numel, dtype=torch.float32) / numel - 0.5).reshape(fixture["loop"]["shape"]) * float(s.init_noise_sigma)
    for t in s.timesteps:
        x = s.step(0.1 * s.scale_model_input(x, t) + 0.01 * float(t) / 1000, t, x).prev_sample
    assert float(x.double().sum()) == pytest.approx(fixture["loop"]["final"]["sum"], rel=1e-4)


def test_frame_correlated_noise_is_the_cli_chain():
    """correlate_frames: x_f = rho^f e_0 + sqrt(1 - rho^2) sum_j rho^(f-j) e_j (the closed form the
    TypeScript test checks correlateFrames against), unit variance, frames k apart correlated rho^k."""
    from durian_export.schedulers import correlate_frames

    rho = 0.6
    draw = torch.randn(1, 3, 5, 40, 100, generator=torch.Generator().manual_seed(0))
    got = correlate_frames(draw, rho)
    fresh = (1 - rho * rho) ** 0.5
    for f in range(5):
        want = rho ** f * draw[:, :, 0] + sum(fresh * rho ** (f - j) * draw[:, :, j] for j in range(1, f + 1))
        torch.testing.assert_close(got[:, :, f], want)
    assert torch.equal(correlate_frames(draw, 0.0), draw)
    x = correlate_frames(torch.randn(1, 4, 4, 64, 64, generator=torch.Generator().manual_seed(1)), 0.8)
    assert x.var(dim=(0, 1, 3, 4)).sub(1).abs().max() < 0.05
    assert abs((x[:, :, 0] * x[:, :, 1]).mean() - 0.8) < 0.05
    assert abs((x[:, :, 0] * x[:, :, 3]).mean() - 0.8 ** 3) < 0.05
    for bad in (1.0, -0.1):
        with pytest.raises(ValueError, match=r"\[0, 1\)"):
            correlate_frames(draw, bad)
