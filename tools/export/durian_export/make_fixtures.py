"""Golden numbers for the TypeScript tests (STYLE "Testing habits" 1).

    python -m durian_export.make_fixtures schedulers --out test/fixtures/schedulers

Each scheduler fixture holds the scheduler_config.json the export writes, the timesteps, the initial
noise sigma and a full loop: a deterministic arange-based sample through a dummy linear "model",
with the first values of every step's prev_sample and the final sample's sum, mean and head.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from .schedulers import DDIMSampler, EulerDiscreteSampler, NoiseSchedule

SHAPE = [1, 4, 2, 4, 4]  # [B, C, F, h, w]
SAMPLE_RULE = "(arange(numel) / numel - 0.5).reshape(shape) * init_noise_sigma, float32"
MODEL_RULE = "model_output = 0.1 * scale_model_input(sample, t) + 0.01 * t / 1000"

# (file stem, scheduler name, prediction_type, num_inference_steps)
SCHEDULER_CASES = [
    ("ddim-epsilon-10", "ddim", "epsilon", 10),
    ("ddim-epsilon-25", "ddim", "epsilon", 25),
    ("ddim-v-prediction-10", "ddim", "v_prediction", 10),
    ("ddim-v-prediction-25", "ddim", "v_prediction", 25),
    ("euler-epsilon-10", "euler", "epsilon", 10),
    ("euler-epsilon-25", "euler", "epsilon", 25),
    ("euler-v-prediction-10", "euler", "v_prediction", 10),
]
CLASS_NAMES = {"ddim": "DDIMScheduler", "euler": "EulerDiscreteScheduler"}


def _head(x: torch.Tensor, n: int) -> list[float]:
    return [float(v) for v in x.flatten()[:n]]


def scheduler_fixture(name: str, prediction_type: str, steps: int) -> dict:
    """One full-loop golden for `name` in ("ddim", "euler"), eta 0."""
    schedule = NoiseSchedule(prediction_type=prediction_type)
    if name == "ddim":
        sampler = ddim = DDIMSampler(schedule, steps)
        init_noise_sigma = 1.0

        def scale(x, t):  # DDIM's scale_model_input is the identity
            return x

        def step(eps, t, x):
            return ddim.step(eps, t, x, eta=0.0)
    elif name == "euler":
        sampler = EulerDiscreteSampler(schedule, steps)
        init_noise_sigma = sampler.init_noise_sigma
        scale, step = sampler.scale_model_input, sampler.step
    else:
        raise ValueError(f"Unknown scheduler {name!r}; valid: {', '.join(CLASS_NAMES)}")

    numel = 1
    for d in SHAPE:
        numel *= d
    sample = (torch.arange(numel, dtype=torch.float32) / numel - 0.5).reshape(SHAPE) * init_noise_sigma
    per_step = []
    for t in sampler.timesteps:
        model_output = 0.1 * scale(sample, t) + 0.01 * t / 1000
        sample, pred_x0 = step(model_output, t, sample)
        per_step.append({"timestep": t, "prev_sample_head": _head(sample, 4),
                         "pred_original_sample_head": _head(pred_x0, 4)})

    fixture = {
        "scheduler": name,
        "config": schedule.scheduler_config(CLASS_NAMES[name]),
        "num_inference_steps": steps,
        "timesteps": list(sampler.timesteps),
        "init_noise_sigma": init_noise_sigma,
    }
    if name == "euler":
        fixture["sigmas"] = list(sampler.sigmas)
    fixture["loop"] = {
        "shape": SHAPE,
        "sample": SAMPLE_RULE,
        "model": MODEL_RULE,
        "eta": 0.0,
        "steps": per_step,
        "final": {"sum": float(sample.double().sum()), "mean": float(sample.double().mean()),
                  "abs_sum": float(sample.double().abs().sum()), "head": _head(sample, 8)},
    }
    return fixture


def write_scheduler_fixtures(out_dir: str | Path) -> list[Path]:
    """Writes one `<scheduler>-<prediction>-<steps>.json` per case in SCHEDULER_CASES."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, name, prediction_type, steps in SCHEDULER_CASES:
        path = out / f"{stem}.json"
        path.write_text(json.dumps(scheduler_fixture(name, prediction_type, steps), indent=1) + "\n")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m durian_export.make_fixtures", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("schedulers", help="scheduler goldens for test/unit/pipeline/schedulers")
    p.add_argument("--out", default="test/fixtures/schedulers", help="output folder (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.what == "schedulers":
        for path in write_scheduler_fixtures(args.out):
            print(path)


if __name__ == "__main__":
    main()
