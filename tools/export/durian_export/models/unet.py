"""The denoising UNet (DNet) and the ReferenceNets (PRNet, ARNet): one class, two roles.

Both share the layout conv_in → down levels → mid → up levels, with a SpatialTransformer after
every ResBlock. As a ReferenceNet (`reference=True`, input = latent ⊕ mask, 5 channels) it runs at
t = 0 and returns the normalised tokens at every spatial-attention position plus a pooled
embedding. As the denoiser it attends to those tokens, adds temporal attention in every block,
takes the pose guider's features after conv_in and predicts noise.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..config import ModelArgs
from .attention import RefContext, SpatialTransformer, TemporalTransformer
from .blocks import Downsample, ResBlock, Upsample, norm, timestep_embedding, zero_module


class Block(nn.Module):
    def __init__(self, cin: int, cout: int, args: ModelArgs, emb_dim: int, temporal: bool):
        super().__init__()
        self.res = ResBlock(cin, cout, args.groups, emb_dim)
        self.spatial = SpatialTransformer(cout, args.heads, args.ff_mult)
        self.temporal = TemporalTransformer(cout, args.heads, args.max_frames) if temporal else None

    def forward(self, x, emb, frames, ref, record, gate=None):
        x = self.spatial(self.res(x, emb), frames, ref, record)
        if self.temporal is not None:
            x = self.temporal(x, frames, gate)
        return x


class UNet(nn.Module):
    def __init__(self, args: ModelArgs, reference: bool):
        super().__init__()
        self.args, self.reference = args, reference
        ch = args.unet_channels
        emb_dim = 4 * ch[0]
        temporal = args.temporal and not reference
        in_ch = args.latent_channels + (1 if (reference and args.mask_channel) else 0)
        self.conv_in = nn.Conv2d(in_ch, ch[0], 3, padding=1)
        self.time = nn.Sequential(nn.Linear(ch[0], emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        prev = ch[0]
        for i, c in enumerate(ch):
            self.down.append(nn.ModuleList([Block(prev if b == 0 else c, c, args, emb_dim, temporal)
                                             for b in range(args.unet_blocks)]))
            prev = c
            self.downsample.append(Downsample(c) if i < len(ch) - 1 else nn.Identity())
        self.mid = Block(ch[-1], ch[-1], args, emb_dim, temporal)
        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for i in reversed(range(len(ch))):
            c = ch[i]
            self.upsample.append(Upsample(prev) if i < len(ch) - 1 else nn.Identity())
            self.up.append(nn.ModuleList([Block((prev + c) if b == 0 else c, c, args, emb_dim, temporal)
                                           for b in range(args.unet_blocks)]))
            prev = c
        if reference:
            self.pool = nn.Linear(ch[-1], args.embed_dim)
        else:
            self.semantic = nn.Linear(args.embed_dim, emb_dim)
            self.norm_out = norm(ch[0], args.groups)
            self.conv_out = zero_module(nn.Conv2d(ch[0], args.latent_channels, 3, padding=1))

    @property
    def num_ref_layers(self) -> int:
        return len(self.args.unet_channels) * self.args.unet_blocks * 2 + 1

    def _run(self, h, emb, frames, refs, record, gate=None):
        skips, i = [], 0

        def ctx():
            nonlocal i
            r = None if refs is None else refs[i]
            i += 1
            return r

        for blocks, down in zip(self.down, self.downsample):
            for blk in blocks:
                h = blk(h, emb, frames, ctx(), record, gate)
            skips.append(h)
            h = down(h)
        h = self.mid(h, emb, frames, ctx(), record, gate)
        mid = h
        for blocks, up in zip(self.up, self.upsample):
            h = up(h)
            h = torch.cat([h, skips.pop()], 1)
            for blk in blocks:
                h = blk(h, emb, frames, ctx(), record, gate)
        return h, mid

    def forward_reference(self, latent_and_mask: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """[B, 5, h, w] (4 without the mask channel) → (hidden states [B, N_l, C_l] per layer, pooled [B, D])."""
        assert self.reference
        B = latent_and_mask.shape[0]
        t = torch.zeros(B, device=latent_and_mask.device)
        emb = self.time(timestep_embedding(t, self.args.unet_channels[0]))
        record: list[torch.Tensor] = []
        _, mid = self._run(self.conv_in(latent_and_mask), emb, 1, None, record)
        return record, self.pool(mid.mean(dim=(2, 3)))

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, pose: torch.Tensor,
                portrait: list[torch.Tensor], attrs: list[torch.Tensor], members: torch.Tensor,
                weights: torch.Tensor, portrait_embed: torch.Tensor, attr_embed: torch.Tensor) -> torch.Tensor:
        """Noise (or v) prediction.

        sample [B, C, F, h, w] (C latent channels); timestep [B]; pose [B, C0, F, h, w] (pose-guider features);
        portrait[l] [B, N_l, C_l]; attrs[l] [B, A, N_l, C_l]; members [B, G, A]; weights [B, F, G];
        portrait_embed [B, D]; attr_embed [B, A, D] → [B, C, F, h, w].
        """
        assert not self.reference
        B, C, Fr, H, W = sample.shape
        x = sample.permute(0, 2, 1, 3, 4).reshape(B * Fr, C, H, W)
        p = pose.permute(0, 2, 1, 3, 4).reshape(B * Fr, -1, H, W)
        t_emb = self.time(timestep_embedding(timestep, self.args.unet_channels[0]))  # [B, E]
        # semantic conditioning: portrait embedding + per-frame blend of the groups' mean attribute embedding
        count = members.sum(-1, keepdim=True).clamp(min=1)
        group_embed = (members @ attr_embed) / count                        # [B, G, D]
        sem = portrait_embed[:, None] + weights @ group_embed                 # [B, F, D]
        emb = t_emb[:, None] + self.semantic(sem)                             # [B, F, E]
        emb = emb.reshape(B * Fr, -1)
        refs = [RefContext(po, at, members, weights) for po, at in zip(portrait, attrs)]
        h = self.conv_in(x) + p
        # the temporal layers only at t >= temporal_min_t (ModelArgs)
        gate = (timestep >= self.args.temporal_min_t) if self.args.temporal_min_t > 0 else None
        h, _ = self._run(h, emb, Fr, refs, None, gate)
        out = self.conv_out(F.silu(self.norm_out(h)))
        return out.reshape(B, Fr, -1, H, W).permute(0, 2, 1, 3, 4)
