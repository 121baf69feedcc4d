"""Head pose geometry: 3-D rotation of the canonical head, orthographic projection, local frames
of facial features on the head ellipsoid (2.5-D parallax), and the 68 keypoints.

Canonical head frame: x to the image right, y down, z toward the viewer; the head is an ellipsoid
of half-axes (a, b, c) with the face on its z > 0 side. Positive yaw turns the face to the image
right, positive pitch tilts it down, roll rotates it in the image plane.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

HEAD_SCALE = 0.42   # head half-width as a fraction of half the image size, before framing/scale
FACE_DEPTH = 0.9    # c / a of the head ellipsoid


def rotation(yaw: torch.Tensor, pitch: torch.Tensor, roll: torch.Tensor) -> torch.Tensor:
    """R = Rz(roll) · Rx(pitch) · Ry(yaw), [B, 3, 3]."""
    cy, sy = torch.cos(yaw), torch.sin(yaw)
    cp, sp = torch.cos(pitch), torch.sin(pitch)
    cr, sr = torch.cos(roll), torch.sin(roll)
    o, z = torch.ones_like(yaw), torch.zeros_like(yaw)
    ry = torch.stack([torch.stack([cy, z, sy], -1), torch.stack([z, o, z], -1), torch.stack([-sy, z, cy], -1)], -2)
    rx = torch.stack([torch.stack([o, z, z], -1), torch.stack([z, cp, sp], -1), torch.stack([z, -sp, cp], -1)], -2)
    rz = torch.stack([torch.stack([cr, -sr, z], -1), torch.stack([sr, cr, z], -1), torch.stack([z, z, o], -1)], -2)
    return rz @ rx @ ry


@dataclass
class Pose:
    """Per-frame head placement. All tensors have a leading batch axis B (clips × frames)."""

    centre: torch.Tensor  # [B, 2] image position of the head centre (normalised units)
    scale: torch.Tensor   # [B] normalised units per canonical unit
    R: torch.Tensor       # [B, 3, 3]
    a: torch.Tensor       # [B] head half-width (canonical)
    b: torch.Tensor       # [B] head half-height
    c: torch.Tensor       # [B] face depth
    yaw: torch.Tensor
    pitch: torch.Tensor
    roll: torch.Tensor

    def project(self, P: torch.Tensor) -> torch.Tensor:
        """Canonical points [B, K, 3] → image points [B, K, 2]."""
        RP = torch.einsum("bij,bkj->bki", self.R, P)
        return self.centre[:, None] + self.scale[:, None, None] * RP[..., :2]

    def surface_z(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Depth of the head ellipsoid's front at canonical (x, y); [B, K]."""
        a, b = self.a[:, None], self.b[:, None]
        s = (1 - (x / a) ** 2 - (y / b) ** 2).clamp(min=0.05)
        return self.c[:, None] * torch.sqrt(s)

    def surface_frame(self, x: torch.Tensor, y: torch.Tensor, lift: torch.Tensor | float = 0.0):
        """Local frames of features at canonical (x, y) [B, K] on the face surface, raised by `lift`.

        Returns the image centre [B, K, 2], the Jacobian J [B, K, 2, 2] mapping local (u, v) in
        canonical units to image offsets, and the rotated normal's z (visibility) [B, K].
        """
        a, b, c = self.a[:, None], self.b[:, None], self.c[:, None]
        s = (1 - (x / a) ** 2 - (y / b) ** 2).clamp(min=0.05)
        z = c * torch.sqrt(s)
        dzdx = -c * x / (a * a * torch.sqrt(s))
        dzdy = -c * y / (b * b * torch.sqrt(s))
        o, zero = torch.ones_like(x), torch.zeros_like(x)
        P = torch.stack([x, y, z + lift], -1)
        tu = torch.stack([o, zero, dzdx], -1)
        tv = torch.stack([zero, o, dzdy], -1)
        n = torch.stack([-dzdx, -dzdy, o], -1)
        n = n / n.norm(dim=-1, keepdim=True)
        def rot(v):
            return torch.einsum("bij,bkj->bki", self.R, v)
        centre = self.centre[:, None] + self.scale[:, None, None] * rot(P)[..., :2]
        J = self.scale[:, None, None, None] * torch.stack([rot(tu)[..., :2], rot(tv)[..., :2]], -1)
        return centre, J, rot(n)[..., 2]

    def to_head_plane(self, X: torch.Tensor, Y: torch.Tensor):
        """Image grid → head-plane coordinates (roll removed, yaw/pitch foreshortening undone).

        The head outline, hair and hats are drawn in this plane; it is the ellipsoid's silhouette
        frame, so their shapes stay attached to the head as it turns.
        """
        dx = X[None] - self.centre[:, 0, None, None]
        dy = Y[None] - self.centre[:, 1, None, None]
        cr, sr = torch.cos(self.roll)[:, None, None], torch.sin(self.roll)[:, None, None]
        qx = (cr * dx + sr * dy) / self.scale[:, None, None]
        qy = (-sr * dx + cr * dy) / self.scale[:, None, None]
        return qx / self.fx[:, None, None], qy / self.fy[:, None, None]

    def from_head_plane(self, qx: torch.Tensor, qy: torch.Tensor) -> torch.Tensor:
        """Head-plane points [B, K] → image points [B, K, 2] (inverse of to_head_plane)."""
        x = qx * self.fx[:, None] * self.scale[:, None]
        y = qy * self.fy[:, None] * self.scale[:, None]
        cr, sr = torch.cos(self.roll)[:, None], torch.sin(self.roll)[:, None]
        return self.centre[:, None] + torch.stack([cr * x - sr * y, sr * x + cr * y], -1)

    @property
    def fx(self) -> torch.Tensor:
        """Silhouette width factor of the ellipsoid under yaw."""
        k = self.c / self.a
        return torch.sqrt(torch.cos(self.yaw) ** 2 + (k * torch.sin(self.yaw)) ** 2)

    @property
    def fy(self) -> torch.Tensor:
        k = self.c / self.b
        return torch.sqrt(torch.cos(self.pitch) ** 2 + (k * torch.sin(self.pitch)) ** 2)

    def front_shift(self, depth: float | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Head-plane offset of a point `depth` in front of the head centre (parallax), [B] each."""
        return depth * torch.sin(self.yaw) / self.fx, depth * torch.sin(self.pitch) / self.fy


def local_coords(X: torch.Tensor, Y: torch.Tensor, centre: torch.Tensor, J: torch.Tensor):
    """Image grid [H, W] → local feature coordinates (u, v) [B, H, W] for one frame per batch row.

    centre [B, 2], J [B, 2, 2]."""
    dx = X[None] - centre[:, 0, None, None]
    dy = Y[None] - centre[:, 1, None, None]
    det = J[:, 0, 0] * J[:, 1, 1] - J[:, 0, 1] * J[:, 1, 0]
    inv = torch.stack([torch.stack([J[:, 1, 1], -J[:, 0, 1]], -1), torch.stack([-J[:, 1, 0], J[:, 0, 0]], -1)], -2)
    inv = inv / det[:, None, None]
    u = inv[:, 0, 0, None, None] * dx + inv[:, 0, 1, None, None] * dy
    v = inv[:, 1, 0, None, None] * dx + inv[:, 1, 1, None, None] * dy
    return u, v


def apply_frame(centre: torch.Tensor, J: torch.Tensor, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Local (u, v) [B, K] in a frame (centre [B, 2], J [B, 2, 2]) → image points [B, K, 2]."""
    return centre[:, None] + torch.einsum("bij,bkj->bki", J, torch.stack([u, v], -1))
