"""Noise schedule and the DDIM / Euler samplers, in diffusers' conventions and config spelling.

DDPM forward process (Ho et al. 2020, eq. 4): x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε.
DDIM step (Song et al. 2021, eq. 12) with η = 0 by default.
"""
from __future__ import annotations

import torch

PREDICTION_TYPES = ("epsilon", "v_prediction")


def betas_for(num_train_timesteps: int, beta_start: float, beta_end: float, schedule: str) -> torch.Tensor:
    if schedule == "linear":
        return torch.linspace(beta_start, beta_end, num_train_timesteps, dtype=torch.float64)
    if schedule == "scaled_linear":
        return torch.linspace(beta_start ** 0.5, beta_end ** 0.5, num_train_timesteps, dtype=torch.float64) ** 2
    raise ValueError(f"Unknown beta_schedule {schedule!r}; valid: linear, scaled_linear")


class NoiseSchedule:
    def __init__(self, num_train_timesteps: int = 1000, beta_start: float = 0.00085, beta_end: float = 0.012,
                 beta_schedule: str = "scaled_linear", prediction_type: str = "epsilon"):
        if prediction_type not in PREDICTION_TYPES:
            raise ValueError(f"Unknown prediction_type {prediction_type!r}; valid: {', '.join(PREDICTION_TYPES)}")
        self.config = dict(num_train_timesteps=num_train_timesteps, beta_start=beta_start, beta_end=beta_end,
                           beta_schedule=beta_schedule, prediction_type=prediction_type)
        self.betas = betas_for(num_train_timesteps, beta_start, beta_end, beta_schedule)
        self.alphas_cumprod = torch.cumprod(1 - self.betas, 0)

    def _ab(self, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        ab = self.alphas_cumprod.to(like.device)[t.long()].to(like.dtype)
        return ab.reshape(-1, *([1] * (like.dim() - 1)))

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        ab = self._ab(t, x0)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise

    def target(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if self.config["prediction_type"] == "epsilon":
            return noise
        ab = self._ab(t, x0)
        return ab.sqrt() * noise - (1 - ab).sqrt() * x0

    def predict_x0(self, model_output: torch.Tensor, sample: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The clean sample a model output implies at timesteps `t` (one per batch entry)."""
        return implied_x0(model_output, sample, self._ab(t, sample), self.config["prediction_type"])

    def scheduler_config(self, class_name: str = "DDIMScheduler") -> dict:
        """scheduler_config.json in diffusers' spelling."""
        return {"_class_name": class_name, **self.config, "clip_sample": False, "set_alpha_to_one": False,
                "steps_offset": 1, "timestep_spacing": "leading"}


def implied_x0(model_output: torch.Tensor, sample: torch.Tensor, ab, prediction_type: str) -> torch.Tensor:
    """The clean sample implied by a model output at ᾱ = `ab` (a float, or a tensor that broadcasts)."""
    if prediction_type == "epsilon":
        return (sample - (1 - ab) ** 0.5 * model_output) / ab ** 0.5
    return ab ** 0.5 * sample - (1 - ab) ** 0.5 * model_output


def correlate_frames(noise: torch.Tensor, rho: float) -> torch.Tensor:
    """Noise [B, C, F, h, w] with its frames chained: frame f = rho * (frame f - 1, already chained) +
    sqrt(1 - rho^2) * (its own draw). Values keep unit variance and frames k apart correlate by rho^k;
    rho = 0 returns the noise unchanged. The CLI's correlateFrames (src/pipeline/random.ts) does the
    same, so a sampler given the same draws gets the same noise."""
    if not 0 <= rho < 1:
        raise ValueError(f"frame noise correlation must be in [0, 1), got {rho}")
    if rho == 0:
        return noise
    out = noise.clone()
    fresh = (1 - rho * rho) ** 0.5
    for f in range(1, out.shape[2]):
        out[:, :, f] = rho * out[:, :, f - 1] + fresh * noise[:, :, f]
    return out


def leading_timesteps(schedule: NoiseSchedule, num_inference_steps: int) -> tuple[list[int], int]:
    """diffusers' "leading" spacing with steps_offset=1: (timesteps, descending; the step ratio)."""
    if num_inference_steps <= 0:
        raise ValueError(f"num_inference_steps must be > 0, got {num_inference_steps}")
    ratio = schedule.config["num_train_timesteps"] // num_inference_steps
    return [int(t) for t in (torch.arange(num_inference_steps) * ratio).flip(0) + 1], ratio


class DDIMSampler:
    """DDIM over a NoiseSchedule (diffusers DDIMScheduler with leading spacing, steps_offset=1,
    set_alpha_to_one=False, clip_sample=False)."""

    def __init__(self, schedule: NoiseSchedule, num_inference_steps: int):
        self.schedule = schedule
        self.timesteps, self.ratio = leading_timesteps(schedule, num_inference_steps)
        self.final_alpha = float(schedule.alphas_cumprod[0])

    def step(self, model_output: torch.Tensor, t: int, sample: torch.Tensor, eta: float = 0.0,
             noise: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        ac = self.schedule.alphas_cumprod
        prev_t = t - self.ratio
        a_t = float(ac[t])
        a_prev = float(ac[prev_t]) if prev_t >= 0 else self.final_alpha
        b_t = 1 - a_t
        x0 = implied_x0(model_output, sample, a_t, self.schedule.config["prediction_type"])
        if self.schedule.config["prediction_type"] == "epsilon":
            eps = model_output
        else:
            eps = a_t ** 0.5 * model_output + b_t ** 0.5 * sample
        var = (1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)
        std = eta * var ** 0.5
        prev = a_prev ** 0.5 * x0 + (1 - a_prev - std ** 2) ** 0.5 * eps
        if eta > 0:
            if noise is None:
                raise ValueError("eta > 0 needs injected noise")
            prev = prev + std * noise
        return prev, x0


class EulerDiscreteSampler:
    """Euler over a NoiseSchedule (diffusers EulerDiscreteScheduler with leading spacing, steps_offset=1,
    linear sigma interpolation, final sigma 0, s_churn=0) — the same timesteps as DDIMSampler, so one
    scheduler_config.json serves both.

    σ_t = √((1−ᾱ_t)/ᾱ_t); Karras et al. 2022, Alg. 1 (Euler, no churn):
    x_{i+1} = x_i + (σ_{i+1} − σ_i) · (x_i − D(x_i)) / σ_i, with σ_N = 0.
    """

    def __init__(self, schedule: NoiseSchedule, num_inference_steps: int):
        self.schedule = schedule
        self.timesteps, _ = leading_timesteps(schedule, num_inference_steps)
        ac = schedule.alphas_cumprod
        train_sigmas = ((1 - ac) / ac) ** 0.5
        # leading timesteps are integers, so diffusers' np.interp lands exactly on the table
        self.sigmas = [float(train_sigmas[t]) for t in self.timesteps] + [0.0]
        # diffusers: leading spacing starts from N(0, σ_max² + 1), linspace/trailing from N(0, σ_max²)
        self.init_noise_sigma = (max(self.sigmas) ** 2 + 1) ** 0.5

    def _index(self, t: int) -> int:
        if t not in self.timesteps:
            raise ValueError(f"timestep {t} is not one of this sampler's timesteps")
        return self.timesteps.index(t)

    def scale_model_input(self, sample: torch.Tensor, t: int) -> torch.Tensor:
        """Karras et al. 2022, Table 1: c_in = 1 / √(σ² + 1)."""
        sigma = self.sigmas[self._index(t)]
        return sample / (sigma ** 2 + 1) ** 0.5

    def step(self, model_output: torch.Tensor, t: int, sample: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        i = self._index(t)
        sigma, sigma_next = self.sigmas[i], self.sigmas[i + 1]
        if self.schedule.config["prediction_type"] == "epsilon":
            x0 = sample - sigma * model_output
        else:
            # v-prediction in σ space: D(x) = x / (σ² + 1) − σ / √(σ² + 1) · v
            x0 = model_output * (-sigma / (sigma ** 2 + 1) ** 0.5) + sample / (sigma ** 2 + 1)
        derivative = (sample - x0) / sigma
        return sample + (sigma_next - sigma) * derivative, x0
