"""Experiment shape (ModelArgs, TrainConfig) as dataclasses: JSON config files, then --key=value
overrides. Checkpoints store the resolved config so resume and export rebuild the same model."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class ModelArgs:
    image_size: int = 64
    latent_channels: int = 4
    # VAE: channels per resolution; len - 1 downsamplings (3 → ×8)
    vae_channels: list[int] = field(default_factory=lambda: [16, 32, 32, 64])
    vae_blocks: int = 1
    # ResBlocks a level in the VAE decoder; 0: vae_blocks + 1, the layout of every decoder trained
    # before this knob (`checkpoint grow --vae-decoder-blocks` deepens a trained decoder in place)
    vae_decoder_blocks: int = 0
    # VAE normalisation: "group" (GroupNorm; the shipped checkpoints/base) or "pixel" (per-position
    # LayerNorm over channels — no map-wide statistic one activation spike can dominate; docs/training.md, "VAE droplet")
    vae_norm: str = "group"
    # denoiser / ReferenceNets: channels per level, one downsampling between levels
    unet_channels: list[int] = field(default_factory=lambda: [32, 64])
    unet_blocks: int = 1
    heads: int = 2
    ff_mult: int = 4               # feed-forward width of the transformer blocks
    temporal: bool = True
    # the temporal layers act only at timesteps t >= this (0: at every step). Below it the denoiser
    # is the stage-1 model frame by frame: the layers' residual is multiplied by (t >= T), a gate
    # inside the graph, so every sampler (PyTorch's, the CLI's) follows it. Stage 2 then draws its
    # timesteps from [T, N) only, the steps where the layers can act (docs/training.md)
    temporal_min_t: int = 0
    max_frames: int = 64
    embed_dim: int = 64            # pooled semantic embedding (stand-in for CLIP/ArcFace)
    pose_channels: list[int] = field(default_factory=lambda: [8, 16, 32])
    parser_channels: list[int] = field(default_factory=lambda: [16, 32, 64])
    groups: int = 8                # GroupNorm groups
    # ablation switches (paper Table 2)
    shared_reference: bool = False  # one ReferenceNet for portrait and attribute
    mask_channel: bool = True       # mask as the 5th input channel of the ReferenceNets


@dataclass
class TrainConfig:
    model: ModelArgs = field(default_factory=ModelArgs)
    seed: int = 0
    lr: float = 2e-4
    weight_decay: float = 1e-2
    warmup: int = 50
    steps: int = 200
    batch_size: int = 4
    grad_clip: float = 1.0
    ema: float = 0.999
    frames: int = 4                 # target frames per clip in stage 2
    # how stage 2 draws a clip's target frames from its 2-second motion (data/synth_data.clip_columns):
    # "run", every clip_stride-th frame of a run in order; "random", distinct frames in random order
    clip_sampling: str = "run"
    clip_stride: int = 1
    prediction_type: str = "epsilon"  # epsilon | v_prediction
    num_train_timesteps: int = 1000
    beta_start: float = 0.00085
    beta_end: float = 0.012
    beta_schedule: str = "scaled_linear"
    latent_scale: float = 1.0       # set after VAE training from latent std
    # stages 1 and 2: weight of coarse noise added to the training noise: one standard-normal draw a
    # cell on grids of 1, 2, 4, ... cells a side up to noise_offset_grid, each upsampled bilinearly,
    # each frame its own (noise_offset_grid 1 is plain "offset noise", a constant a channel). The
    # schedule leaves ~10 % of the signal at the sampler's first step, so a model trained on white
    # noise alone reads the coarse content of the starting noise as colour; noise of that scale in
    # training teaches it that a region's mean in a very noisy input is noise, and colour has to
    # come from the references. 0: white noise only.
    noise_offset: float = 0.0
    noise_offset_grid: int = 1
    # stage 2: the training noise of a clip's frames chained as the sampler's --noise-correlation
    # chains them (frame f = rho * frame f-1 + sqrt(1 - rho^2) * its own draw, coarse part included),
    # so that the temporal layers learn on the noise they are sampled with: a model trained on
    # independent frames and sampled with correlated ones sees noise it never saw. Stage 1 (one frame
    # a sample) is unchanged. 0: every frame its own noise.
    noise_correlation: float = 0.0
    kl_weight: float = 1e-6
    # VAE stage: train the decoder alone, the encoder (and so the latent space) held as it is — lets
    # stage 1 start on a latent space the VAE's later chunks no longer move
    vae_freeze_encoder: bool = False
    # VAE stage: weight of a texture term (components.vae_loss) that compares the local amount of
    # fine detail, not its phase, so that the decoder is not rewarded for drawing a pattern it cannot
    # place (hair strands) as a flat average; 0 leaves the loss as it was
    vae_texture_weight: float = 0.0
    # VAE stage: weight of an adversarial term from a patch discriminator trained beside the decoder
    # (adversary.Adversary), balanced against the reconstruction loss by their gradients at the
    # decoded image; 0: no discriminator. It rewards texture a discriminator cannot tell from the
    # renders' over the flat average a per-pixel loss prefers. The discriminator trains alone for
    # vae_adv_warmup steps before its verdict reaches the decoder.
    vae_adv_weight: float = 0.0
    vae_adv_warmup: int = 200
    # VAE stage: each sample is a run of vae_frames consecutive frames of one clip (one latent noise
    # draw shared by them), and vae_temporal_weight weighs an L1 between the decoded frames' change
    # from frame to frame and the renders' change (components.frame_change_loss). A decoder that snaps
    # an edge to its latent grid where the truth moves by part of a pixel, or redraws a detail
    # differently in two frames whose latents barely differ, pays for it; the per-frame terms pay for
    # neither, as they see each frame alone. 1 frame: single images, as before.
    vae_frames: int = 1
    vae_temporal_weight: float = 0.0
    # VAE stage: weight of 1 − SSIM (components.structure_loss). SSIM compares each 11×11 window's
    # structure relative to its own contrast, so a faint edge (a jaw line or nostril on dark skin, a
    # brow a shade off the skin) counts as much as a strong one; L1 counts it by its few levels of
    # difference, and a decoder trained on L1 alone drops it, which the keypoint parser then misses
    vae_ssim_weight: float = 0.0
    # VAE stage: > 0 trains the decoder (the encoder held, as vae_freeze_encoder holds it) on what
    # it decodes in use, not on the encoder's latents: each sample is a diffusion sample whose target
    # latent is noised to a timestep drawn from [0, vae_denoised_t), and the frozen denoiser's
    # estimate of the clean latent (with classifier-free guidance vae_denoised_guidance, as the CLI
    # samples) is decoded against the target frame. A decoder trained only on exact latents draws
    # detail the denoiser's estimate does not support (docs/training.md, "A longer SSIM decoder").
    # Needs a run with trained stages 1 (and 2). 0: the round trip of the encoder's latents, as before
    vae_denoised_t: int = 0
    vae_denoised_guidance: float = 5.0
    # with vae_denoised_t: weight of the plain round trip (the encoder's latents of the same target
    # frames, decoded against them) beside the estimates' term. The estimates alone teach the decoder
    # to smooth, and it loses the round trip's fine detail (a held-out round trip of 32.2 dB fell to
    # 31.2 in 663 steps, docs/training.md); this term keeps it. 0: the estimates alone
    vae_denoised_roundtrip: float = 0.0
    # parser stage: degrade the training images (blur, lost resolution, noise, blotches) so that the
    # parser also reads generated frames, which are softer than renders (data/augment.degrade)
    parser_degrade: bool = False
    ref_dropout: float = 0.1        # drop both references (CFG unconditional branch)
    pose_dropout: float = 0.05      # drop the pose alone (the references dropped drop it too)
    min_snr_gamma: float = 0.0      # > 0: Min-SNR-γ loss weights (Hang et al. 2023); 0: plain MSE
    # with min_snr_gamma: the clean-latent error's weight is at least this at the noisy end (0: none)
    min_snr_floor: float = 0.0
    # one weight per latent channel on the denoising loss (empty: all 1). A latent space whose image
    # lives in a few wide channels can weigh them by how much the decoder's output moves per unit of
    # their error (python -m durian_export.channel_weights measures that and prints the override)
    channel_loss_weights: list[float] = field(default_factory=list)
    # stages 1 and 2: the denoising error inside the target's attribute region (its class mask,
    # averaged down to latent pixels) counts 1 + attr_loss_weight times. Beards and glasses are the
    # smallest regions, so a frame-averaged loss weighs them least, and the model gets their colour
    # wrong: milky glasses, beards off in brightness (docs/training.md, sixteenth and seventeenth
    # sessions). 0: every pixel alike
    attr_loss_weight: float = 0.0
    # stages 1 and 2: the same inside the target's eye boxes (metrics.keypoint_box of each eye's six
    # keypoints, averaged down to latent pixels): 1 + eye_loss_weight times. An iris is a few latent
    # pixels across, and the model draws irises too dark and of the wrong colour, more than twice the
    # VAE's own error there (docs/training.md, "The irises, measured"). 0: every pixel alike
    eye_loss_weight: float = 0.0
    # training-recipe switches (paper §3 and Table 2 ablations)
    complementary_masking: bool = True
    mask_expansion: bool = True
    augmentation: bool = True
    cross_identity: float = 0.0     # fraction of samples with a different-identity attribute (GT known)
    # warp the attribute reference onto the portrait by keypoints, as the CLI does (data/align.py);
    # off in runs that predate it
    align_attribute: bool = False
    hold_out_seed: int = 1_000_000  # identities from this seed on are never used in training
    train_seed: int = 0

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "TrainConfig":
        d = dict(d)
        model = ModelArgs(**d.pop("model", {}))
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"Unknown config keys {sorted(unknown)}; valid: {sorted(known)}")
        return cls(model=model, **d)


def _coerce(value: str, current: Any) -> Any:
    if isinstance(current, bool):
        if value.lower() not in ("true", "false", "1", "0"):
            raise ValueError(f"expected a boolean, got {value!r}")
        return value.lower() in ("true", "1")
    if isinstance(current, (list, dict)):
        return json.loads(value)
    return type(current)(value)


def apply_overrides(cfg: TrainConfig, overrides: list[str]) -> TrainConfig:
    """Applies `key=value` / `model.key=value` strings; unknown keys raise."""
    for item in overrides:
        key, sep, value = item.lstrip("-").partition("=")
        if not sep:
            raise ValueError(f"override {item!r} is not key=value")
        target: Any = cfg
        parts = key.split(".")
        for p in parts[:-1]:
            target = getattr(target, p)
        name = parts[-1]
        if not hasattr(target, name):
            raise ValueError(f"Unknown config key {key!r}")
        setattr(target, name, _coerce(value, getattr(target, name)))
    return cfg


# what may change between chunks of one run (`train --resume key=value`): the recipe, not the
# architecture, the noise schedule, the latent scale or the data split
RESUMABLE_OVERRIDES = ("lr", "weight_decay", "warmup", "grad_clip", "ema", "ref_dropout", "pose_dropout",
                       "min_snr_gamma", "min_snr_floor", "channel_loss_weights", "attr_loss_weight", "eye_loss_weight", "cross_identity", "kl_weight", "vae_freeze_encoder", "vae_texture_weight",
                       "vae_adv_weight", "vae_adv_warmup", "vae_frames", "vae_temporal_weight", "vae_ssim_weight", "vae_denoised_t", "vae_denoised_guidance", "vae_denoised_roundtrip", "noise_offset", "noise_offset_grid", "noise_correlation", "batch_size", "frames",
                       "clip_sampling", "clip_stride", "align_attribute", "parser_degrade",
                       "model.temporal_min_t")


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> TrainConfig:
    cfg = TrainConfig() if path is None else TrainConfig.from_json(json.loads(Path(path).read_text()))
    return apply_overrides(cfg, overrides or [])


def stage_frames(cfg: TrainConfig, stage: str) -> int:
    """Frames of one training sample of `stage`: a clip's `frames` in stage 2 (and in the VAE stage
    with `vae_denoised_t`, which decodes the denoiser's estimate of a clip), a run of `vae_frames`
    in the VAE stage, a single frame in stage 1 and the parser stage."""
    if stage == "vae" and cfg.vae_denoised_t > 0:
        return cfg.frames
    return {"stage2": cfg.frames, "vae": cfg.vae_frames}.get(stage, 1)


def diffusion_samples(cfg: TrainConfig, stage: str) -> bool:
    """Whether `stage` trains on diffusion samples (targets, references, pose) rather than on
    images alone: stages 1 and 2, and the VAE stage with `vae_denoised_t`."""
    return stage in ("stage1", "stage2") or (stage == "vae" and cfg.vae_denoised_t > 0)
