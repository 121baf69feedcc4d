"""Tests of SynthPortrait (durian_export.synth): determinism, mask partition, keypoints vs. the
painted features, parameter composition/transfer, absent attributes, motion smoothness, variant
coverage and class swaps.

Thresholds were set from measured values (quoted next to each constant) with a margin. Renders
are small (32-128 px, few frames) and batched so the file stays fast on a 2-core CPU.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from durian_export.synth import (
    MASK_CLASSES,
    STYLES,
    render,
    sample_attributes,
    sample_identities,
    sample_motion,
    with_styles,
)

CH = {name: i for i, name in enumerate(MASK_CLASSES)}
ALL_PRESENT = {"hair": 1.0, "hat": 1.0, "glasses": 1.0, "beard": 1.0}
NO_ATTRS = {"hair": 0, "hat": 0, "glasses": 0, "beard": 0}
BERET = STYLES["hat"].index("beret")


@pytest.fixture(scope="module", autouse=True)
def _one_intra_op_thread():
    """Render with one torch thread. The renders are many small element-wise ops; on a 2-core box
    where another process holds a core, OpenMP's two-thread barriers made each render() ~100x slower
    (measured 16.7 s vs 0.15-0.24 s for a 3-clip × 4-frame 96 px render), while with the machine idle
    one thread is as fast as two."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _clip(seed, indices, frames, probs=None, preset="random", fps=25.0):
    return (sample_identities(seed, indices), sample_attributes(seed, indices, probs=probs),
            sample_motion(seed, indices, frames, fps=fps, preset=preset))


def _dilate(mask: torch.Tensor, r: int) -> torch.Tensor:
    """Binary dilation of [..., H, W] by a (2r+1)² square (max-pool)."""
    shape = mask.shape
    m = mask.float().reshape(-1, 1, *shape[-2:])
    if r > 0:
        m = F.max_pool2d(m, 2 * r + 1, stride=1, padding=r)
    return m.reshape(shape) > 0


def _lookup(mask: torch.Tensor, pts: torch.Tensor) -> torch.Tensor:
    """mask [B, H, W] (bool) at pixel (x, y) points pts [B, K, 2] → [B, K] bool (outside the image: False)."""
    H, W = mask.shape[-2:]
    ix, iy = pts[..., 0].floor().long(), pts[..., 1].floor().long()
    valid = (ix >= 0) & (ix < W) & (iy >= 0) & (iy < H)
    b = torch.arange(mask.shape[0])[:, None].expand_as(ix)
    return mask[b, iy.clamp(0, H - 1), ix.clamp(0, W - 1)] & valid


def _still(n: int, yaw, pitch):
    """'still' motion for n clips whose frames take the given yaw/pitch lists."""
    m = sample_motion(0, range(n), len(yaw), preset="still")
    return m.replace(yaw=torch.tensor(yaw, dtype=torch.float32).expand(n, -1).clone(),
                     pitch=torch.tensor(pitch, dtype=torch.float32).expand(n, -1).clone())


# --------------------------------------------------------------------------------------------
# 1. Determinism
# --------------------------------------------------------------------------------------------

def test_same_seed_renders_bit_identical():
    a = render(*_clip(7, [0, 1, 2], 4, probs=ALL_PRESENT), size=96)
    b = render(*_clip(7, [0, 1, 2], 4, probs=ALL_PRESENT), size=96)
    assert a.rgb.numpy().tobytes() == b.rgb.numpy().tobytes()
    assert a.masks.numpy().tobytes() == b.masks.numpy().tobytes()
    assert a.keypoints.numpy().tobytes() == b.keypoints.numpy().tobytes()


@pytest.mark.parametrize("preset", ["random", "talking"])
def test_params_of_an_index_do_not_depend_on_its_batch(preset):
    seed = 21
    alone = _clip(seed, [3], 16, probs={"hat": 1.0}, preset=preset)
    batch = _clip(seed, [1, 2, 3], 16, probs={"hat": 1.0}, preset=preset)
    reordered = _clip(seed, [3, 9], 16, probs={"hat": 1.0}, preset=preset)
    for one, many, other in zip(alone, batch, reordered):
        for name in vars(one):
            assert torch.equal(getattr(one, name), getattr(many[[2]], name)), name
            assert torch.equal(getattr(one, name), getattr(other[[0]], name)), name
    # distinct indices are distinct people (so the equalities above are not trivial)
    assert not torch.equal(batch[0].head[0], batch[0].head[2])


def test_different_seed_gives_different_pixels():
    a = render(*_clip(7, [0, 1, 2], 4), size=96)
    b = render(*_clip(8, [0, 1, 2], 4), size=96)
    # measured mean |Δrgb| per clip 0.22-0.33 (seeds 0 vs 1); 0.05 is far above render noise (0)
    assert (a.rgb - b.rgb).abs().mean(dim=(1, 2, 3, 4)).min() > 0.05
    assert not torch.equal(a.keypoints, b.keypoints)


# --------------------------------------------------------------------------------------------
# 2. Masks partition every pixel
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed,probs,preset,size", [
    (11, ALL_PRESENT, "random", 96),
    (12, None, "talking", (96, 72)),
    (13, {"hair": 1.0, "hat": 1.0, "glasses": 1.0}, "random", (64, 96)),
])
def test_masks_partition_every_pixel(seed, probs, preset, size):
    N, Fr = 6, 4
    H, W = (size, size) if isinstance(size, int) else size
    out = render(*_clip(seed, range(N), Fr, probs=probs, preset=preset), size=size)
    assert out.rgb.shape == (N, Fr, 3, H, W)
    assert out.masks.shape == (N, Fr, len(MASK_CLASSES), H, W)
    assert out.keypoints.shape == (N, Fr, 68, 2)
    assert torch.isfinite(out.rgb).all() and torch.isfinite(out.masks).all()
    assert out.rgb.min() >= 0 and out.rgb.max() <= 1
    # measured: |sum - 1| <= 1.2e-7, values exactly within [0, 1]
    assert (out.masks.sum(2) - 1).abs().max() <= 1e-5
    assert out.masks.min() >= -1e-6 and out.masks.max() <= 1 + 1e-6
    if probs is ALL_PRESENT:
        # every layer is really there, so the partition is tested under overlaps and occlusion
        frac = (out.masks > 0.5).float().mean(dim=(1, 3, 4))  # [N, C]
        assert (frac > 1e-4).all(), frac


# --------------------------------------------------------------------------------------------
# 3. Keypoints vs. the painted features
# --------------------------------------------------------------------------------------------

REGION_THRESHOLD = 0.1   # a pixel belongs to a feature region where its coverage exceeds this
REGION_DILATION = 2      # px; measured: every eye/mouth/jaw/brow point is inside at 1 px; at 0 px 2.6 % of eye points miss


@pytest.fixture(scope="module")
def spread_render():
    """16 random clips, 6 frames at 2 fps (so the frames span the clips' pose ranges), 128 px."""
    ident, attrs, mot = _clip(5, range(16), 6, fps=2.0)
    return mot, render(ident, attrs, mot, size=128, return_regions=True)


def test_keypoints_lie_in_their_regions(spread_render):
    mot, out = spread_render
    S = 128
    kp = out.keypoints.reshape(-1, 68, 2)
    reg = {k: v.reshape(-1, S, S) > REGION_THRESHOLD for k, v in out.regions.items()}
    eyes_open = mot.eyes_open.reshape(-1) > 0.7
    frontalish = mot.yaw.reshape(-1).abs() < 0.6
    assert frontalish.all()  # the random preset keeps |yaw| <= 0.55
    assert eyes_open.sum() >= 80  # measured 91 of 96 frames

    checks = {"eyes": (slice(36, 48), eyes_open), "mouth": (slice(48, 68), frontalish),
              "head": (slice(0, 17), frontalish), "brows": (slice(17, 27), frontalish)}
    for name, (pts, frames) in checks.items():
        inside = _lookup(_dilate(reg[name], REGION_DILATION), kp[:, pts])[frames]
        bad = (~inside).nonzero()
        assert inside.all(), f"{name}: {len(bad)} points outside, first (frame, point) {bad[:5].tolist()}"
        # the check can fail: the same points moved 0.06*size down leave the (small) regions
        if name in ("eyes", "mouth"):
            moved = kp[:, pts] + torch.tensor([0.0, 0.06 * S])
            assert _lookup(_dilate(reg[name], REGION_DILATION), moved)[frames].float().mean() < 0.5
    # every keypoint of the face (17-67) is on the head
    assert _lookup(_dilate(reg["head"], REGION_DILATION), kp[:, 17:68]).all()


def test_keypoint_order_is_ibug68():
    n = 4
    yaw = [0.0, -0.4, 0.4, 0.0, 0.0]
    pitch = [0.0, 0.0, 0.0, -0.15, 0.15]
    ident, attrs, _ = _clip(3, range(n), 1)
    kp = render(ident, attrs, _still(n, yaw, pitch), size=128).keypoints  # [n, 5, 68, 2]
    x, y = kp[..., 0], kp[..., 1]

    # left/right order at every pose: image-left eye (36-41) then image-right eye (42-47)
    assert (x[..., 36] < x[..., 39]).all() and (x[..., 39] < x[..., 42]).all() and (x[..., 42] < x[..., 45]).all()
    assert (x[..., 17:22].diff(dim=-1) > 0).all() and (x[..., 22:27].diff(dim=-1) > 0).all()
    assert (x[..., 21] < x[..., 22]).all()
    assert (x[..., 31:36].diff(dim=-1) > 0).all()
    assert (x[..., 48] < x[..., 51]).all() and (x[..., 51] < x[..., 54]).all()
    assert (x[..., 0] < x[..., 8]).all() and (x[..., 8] < x[..., 16]).all()
    # nose tip between the eyes, horizontally
    assert ((x[..., 30] > x[..., 39]) & (x[..., 30] < x[..., 42])).all()

    # vertical order: brows above eyes above nose tip above upper lip above lower lip above chin
    f = kp[:, 0]  # frontal
    fx, fy = f[..., 0], f[..., 1]
    assert (fy[:, 19] < fy[:, 37]).all() and (fy[:, 24] < fy[:, 44]).all()
    assert (fy[:, 36:48].mean(-1) < fy[:, 30]).all()
    assert (fy[:, 27:31].diff(dim=-1) > 0).all()  # the bridge runs down to the tip
    assert (fy[:, 30] < fy[:, 51]).all() and (fy[:, 51] < fy[:, 62]).all()
    assert (fy[:, 62] <= fy[:, 66]).all() and (fy[:, 66] < fy[:, 57]).all()
    assert (fy[:, 37] < fy[:, 41]).all() and (fy[:, 44] < fy[:, 46]).all()  # upper lid above lower lid
    # the chin (8) is the lowest jaw point, the jaw runs down from 0 to 8 and up from 8 to 16
    assert (fy[:, :17].argmax(-1) == 8).all()
    assert (fy[:, :9].diff(dim=-1) > 0).all() and (fy[:, 8:17].diff(dim=-1) < 0).all()
    # frontal: symmetric about the nose bridge (within a pixel)
    mid = fx[:, 27:31].mean(-1)
    assert ((fx[:, 36] + fx[:, 45]) / 2 - mid).abs().max() < 1.0
    assert ((fx[:, 0] + fx[:, 16]) / 2 - mid).abs().max() < 1.0
    # positive yaw turns the face to the image right: the nose tip moves right relative to the jaw ends
    rel = x[..., 30] - (x[..., 0] + x[..., 16]) / 2
    assert (rel[:, 2] > rel[:, 0] + 2).all() and (rel[:, 1] < rel[:, 0] - 2).all()
    # positive pitch tilts the face down: the nose tip moves down relative to the eyes
    rel_y = y[..., 30] - y[..., 36:48].mean(-1)
    assert (rel_y[:, 4] > rel_y[:, 3]).all()


# --------------------------------------------------------------------------------------------
# 4. Composition: a render is a function of its own row's parameters
# --------------------------------------------------------------------------------------------

def test_batched_render_equals_single_row_renders():
    seed, idx = 31, [0, 1, 2]
    ident, attrs, mot = _clip(seed, idx, 4, probs=ALL_PRESENT)
    batch = render(ident, attrs, mot, size=96)
    singles = [
        (1, render(ident[[1]], attrs[[1]], mot[[1]], size=96)),
        (2, render(ident[2:3], attrs[2:3], mot[2:3], size=96)),
        (1, render(*_clip(seed, [1], 4, probs=ALL_PRESENT), size=96)),  # sampled on its own
    ]
    for row, one in singles:
        # measured: bit-identical (0.0)
        assert (one.rgb[0] - batch.rgb[row]).abs().max() <= 1e-5
        assert (one.masks[0] - batch.masks[row]).abs().max() <= 1e-5
        assert (one.keypoints[0] - batch.keypoints[row]).abs().max() <= 1e-4


def test_transfer_render_mixes_identity_attributes_and_motion():
    # seed 0: index 8 has the darkest skin of 0-11, index 0 one of the lightest
    idx = [8, 0, 3]
    ident, attrs, mot = _clip(0, idx, 4, probs={"hair": 1.0})
    S = 96
    plain = render(ident, attrs, mot, size=S)
    A, B, C = [0], [1], [2]
    tr = render(ident[A], attrs[B], mot[C], size=S, return_regions=True)
    a_at_c = render(ident[A], attrs[A], mot[C], size=S)

    # it is neither A's nor B's clip (measured mean |Δrgb| 0.041 vs A, 0.27 vs B)
    assert (tr.rgb[0] - plain.rgb[0]).abs().mean() > 0.01
    assert (tr.rgb[0] - plain.rgb[1]).abs().mean() > 0.05
    # landmarks come from identity and motion only (measured: exactly equal)
    assert torch.equal(tr.keypoints, a_at_c.keypoints)
    # B's attributes: each class is visible iff B wears it
    for cls in ("hair", "hat", "glasses", "beard"):
        frac = (tr.masks[0, :, CH[cls]] > 0.5).float().mean()
        if int(attrs.style(cls)[1]) > 0:
            assert frac > 0.002, (cls, frac)  # hair measured 0.048
        else:
            assert tr.masks[0, :, CH[cls]].max() <= 1e-6, cls
    # A's skin: the median plain-skin colour is A's tone (measured 0.018 off A's skin, 0.62 off B's)
    feats = torch.maximum(torch.maximum(tr.regions["eyes"], tr.regions["mouth"]), tr.regions["brows"])[0]
    skin = (tr.masks[0, :, CH["face"]] > 0.99) & (feats == 0)
    assert skin.sum() > 500
    median = tr.rgb[0].permute(1, 0, 2, 3)[:, skin].median(dim=1).values
    assert (median - ident.skin[0]).abs().max() < 0.08, (median, ident.skin[0])
    assert (median - ident.skin[1]).abs().max() > 0.3, (median, ident.skin[1])


# --------------------------------------------------------------------------------------------
# 5. Absent attributes paint nothing
# --------------------------------------------------------------------------------------------

def test_absent_attribute_masks_are_empty():
    N, Fr, S = 6, 3, 96
    ident, attrs, mot = _clip(41, range(N), Fr, probs=ALL_PRESENT)
    full = render(ident, attrs, mot, size=S)
    # sanity: with every class present each channel is painted in every clip
    for cls in ("hair", "hat", "glasses", "beard"):
        assert (full.masks[:, :, CH[cls]].amax(dim=(1, 2, 3)) > 0.5).all(), cls

    bare = render(ident, with_styles(attrs, hat=0, glasses=0, beard=0), mot, size=S)
    for cls in ("hat", "glasses", "beard"):
        assert bare.masks[:, :, CH[cls]].max() <= 1e-6, cls  # measured exactly 0
    assert (bare.masks[:, :, CH["hair"]].amax(dim=(1, 2, 3)) > 0.5).all()

    bald = render(ident, with_styles(attrs, hair=0), mot, size=S)
    assert bald.masks[:, :, CH["hair"]].max() <= 1e-6  # measured exactly 0
    for cls in ("hat", "glasses", "beard"):
        assert (bald.masks[:, :, CH[cls]].amax(dim=(1, 2, 3)) > 0.5).all(), cls


# --------------------------------------------------------------------------------------------
# 6. Keypoint trajectories are smooth
# --------------------------------------------------------------------------------------------

SMOOTH_SIZE = 256
# Measured in 256 px units, 25 fps, 48 frames, seeds 0-2 × 24 clips and seed 17 × 12 clips per preset:
#   max step 3.31 px random, 3.60 px talking (0.014 S); max |2nd difference| 3.27 px random (blinks),
#   5.68 px talking (lips closing); rigid points (jaw, nose) max |2nd difference| 0.159 px;
#   per-clip max displacement from frame 0 >= 4.65 px.
MAX_STEP = 0.03 * SMOOTH_SIZE          # 7.7 px
MAX_ACCEL = 0.04 * SMOOTH_SIZE         # 10.2 px
MAX_RIGID_ACCEL = 0.004 * SMOOTH_SIZE  # 1.0 px (analytic bound for the presets' head motion ~0.45 px)
MIN_MOTION = 1.0                       # px
RIGID = list(range(17)) + list(range(27, 36))


def test_keypoints_scale_exactly_with_image_size():
    """Keypoints are analytic: a render at s px is the 256 px one scaled (so smoothness can use 32 px)."""
    ident, attrs, mot = _clip(2, [0, 1], 2)
    big = render(ident, attrs, mot, size=SMOOTH_SIZE).keypoints
    small = render(ident, attrs, mot, size=32).keypoints
    assert ((small - 16) * (SMOOTH_SIZE / 32) + SMOOTH_SIZE / 2 - big).abs().max() < 1e-3


@pytest.mark.parametrize("preset", ["random", "talking"])
def test_keypoint_trajectories_are_smooth(preset):
    N, s = 12, 32
    out = render(*_clip(17, range(N), 48, preset=preset), size=s)
    kp = (out.keypoints - s / 2) * (SMOOTH_SIZE / s) + SMOOTH_SIZE / 2  # in 256 px units (exact, see above)
    step = (kp[:, 1:] - kp[:, :-1]).norm(dim=-1)
    accel = (kp[:, 2:] - 2 * kp[:, 1:-1] + kp[:, :-2]).norm(dim=-1)
    assert step.max() < MAX_STEP, step.max()
    assert accel.max() < MAX_ACCEL, accel.max()
    assert accel[..., RIGID].max() < MAX_RIGID_ACCEL, accel[..., RIGID].max()
    # not static: every clip moves
    disp = (kp - kp[:, :1]).norm(dim=-1).amax(dim=(1, 2))
    assert (disp > MIN_MOTION).all(), disp


# --------------------------------------------------------------------------------------------
# 7. Every variant renders a real mask at several poses
# --------------------------------------------------------------------------------------------

POSES = [(0.0, 0.0), (-0.4, 0.0), (0.4, 0.0), (0.0, -0.15), (0.0, 0.15), (0.4, 0.15)]
# Fraction of the 128 px image with mask > 0.5; measured minima over the poses (identity seeds 0, 5):
# hair 0.019 (mohawk), hat 0.010 (headband), glasses 0.0076 (rimless), beard 0.0056 (goatee),
# moustache 0.0010 (a ~2 px band at 128 px, so it gets its own floor).
MIN_FRACTION = {"hair": 0.01, "hat": 0.005, "glasses": 0.004, "beard": 0.0025}
MIN_FRACTION_MOUSTACHE = 0.0005


@pytest.mark.parametrize("cls", ["hair", "hat", "glasses", "beard"])
def test_every_variant_renders_a_mask(cls):
    n = len(STYLES[cls])
    V = n - 1
    ident = sample_identities(0, range(V))
    attrs = with_styles(sample_attributes(0, range(V)), **NO_ATTRS)
    attrs = attrs.replace(**{f"{cls}_style": torch.arange(1, n)})
    mot = _still(V, [p[0] for p in POSES], [p[1] for p in POSES])
    out = render(ident, attrs, mot, size=128)
    frac = (out.masks[:, :, CH[cls]] > 0.5).float().mean(dim=(-1, -2))  # [V, poses]
    for v in range(V):
        name = STYLES[cls][v + 1]
        floor = MIN_FRACTION_MOUSTACHE if name == "moustache" else MIN_FRACTION[cls]
        assert frac[v].min() > floor, (cls, name, frac[v].tolist())
    # and no other class is painted
    others = [c for c in ("hair", "hat", "glasses", "beard") if c != cls]
    for c in others:
        assert out.masks[:, :, CH[c]].max() <= 1e-6, c


# --------------------------------------------------------------------------------------------
# 8. Swapping one class changes only that class's region
# --------------------------------------------------------------------------------------------

def _swap_check(cls, A, B, ident, mot, S=96):
    swapped = A.swap_class(cls, B)
    a = render(ident, A, mot, size=S, return_regions=True)
    b = render(ident, swapped, mot, size=S, return_regions=True)
    union = torch.maximum(a.masks[:, :, CH[cls]], b.masks[:, :, CH[cls]]) > 0
    d_rgb = (a.rgb - b.rgb).abs().amax(dim=2)
    d_mask = (a.masks - b.masks).abs().amax(dim=2)
    return a, b, union, d_rgb, d_mask


def test_swap_hair_changes_only_the_hair_region():
    N = 6
    ident, _, mot = _clip(4, range(N), 4)
    non_beret = torch.tensor([0, 1, 2, 3, 5, 6])
    A = sample_attributes(4, range(N), probs=ALL_PRESENT)
    A = A.replace(hat_style=non_beret[A.hat_style % len(non_beret)])
    B = sample_attributes(40, range(N), probs={"hair": 1.0})
    B = B.replace(hair_style=torch.tensor([1, 5, 6, 8, 11, 0]))  # includes bald
    assert (A.hair_style != B.hair_style).all()
    a, b, union, d_rgb, d_mask = _swap_check("hair", A, B, ident, mot)
    # outside the old ∪ new hair: measured |Δrgb| <= 1.2e-7 (rounding where hair was fully occluded), masks exact
    assert d_rgb[~union].max() <= 1e-6
    assert d_mask[~union].max() <= 1e-6
    mouth = a.regions["mouth"] > 0
    assert d_rgb[mouth].max() <= 1e-6 and d_mask[mouth].max() <= 1e-6
    assert torch.equal(a.keypoints, b.keypoints)
    # and the hair did change (measured: 99.9 % of the union's pixels)
    assert (d_rgb[union] > 1e-3).float().mean() > 0.5


@pytest.mark.parametrize("cls", ["hat", "glasses", "beard"])
def test_swap_other_classes_changes_only_their_region(cls):
    N = 4
    ident, _, mot = _clip(6, range(N), 3)
    A = sample_attributes(6, range(N), probs=ALL_PRESENT)
    B = sample_attributes(60, range(N), probs=ALL_PRESENT)
    B = B.replace(**{f"{cls}_style": (A.style(cls) % (len(STYLES[cls]) - 1)) + 1})  # a different variant
    assert (A.style(cls) != B.style(cls)).all()
    a, b, union, d_rgb, d_mask = _swap_check(cls, A, B, ident, mot)
    assert d_rgb[~union].max() <= 1e-6
    assert d_mask[~union].max() <= 1e-6
    assert (d_rgb[union] > 1e-3).float().mean() > 0.3


def test_swap_hair_leaves_a_beret_unchanged():
    N = 3
    ident, _, mot = _clip(4, range(N), 2, preset="still")
    A = with_styles(sample_attributes(4, range(N)), hair=2, hat=BERET, glasses=0, beard=0)
    B = with_styles(sample_attributes(40, range(N)), hair=2)
    shape_a, shape_b = A.hair_shape.clone(), B.hair_shape.clone()
    shape_a[:, 2], shape_b[:, 2] = 1.0, -1.0  # parted on opposite sides
    A, B = A.replace(hair_shape=shape_a), B.replace(hair_shape=shape_b)
    a, b, union, d_rgb, d_mask = _swap_check("hair", A, B, ident, mot, S=128)
    hat_changed = (a.masks[:, :, CH["hat"]] - b.masks[:, :, CH["hat"]]).abs() > 0.5
    assert not hat_changed.any(), (f"{int(hat_changed.sum())} hat-mask pixels changed in {hat_changed[0, 0].numel()} "
                                   f"x {hat_changed.shape[0] * hat_changed.shape[1]} frames; max |Δrgb| outside "
                                   f"the hair masks {float(d_rgb[~union].max()):.3f}")
    assert d_rgb[~union].max() <= 1e-6
    assert d_mask[~union].max() <= 1e-6
